"""The shell that runs the pipeline: context, stages, apply, scheduler, daemon, locks and faults."""
