"""Run the real Pulumi program without the Pulumi CLI: record, plan, check."""
