#!/bin/sh
# Create the places of exporter-bench-host.yaml on the coordinator (run once).
set -e
: "${LG_COORDINATOR:?set LG_COORDINATOR=HOST:PORT}"
for place in st33-spi-01 slb9673-i2c-01; do
    labgrid-client -p "$place" create
    labgrid-client -p "$place" add-match "bench-host-1/$place/*/*"
done
labgrid-client places
