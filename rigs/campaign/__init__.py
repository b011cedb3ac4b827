"""Environmental campaigns: campaign files, the runner, telemetry, EFP/EFT checks, analysis."""
