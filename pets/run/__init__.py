"""One PETS run (docs/spec/pets-facts.md §7): build it, roll out, train, log, checkpoint, resume.

Modules: `experiment` (the trial loop), `building` (config -> model, propagation, optimizer,
MPC), `rollout` (episodes and training data), `runlog` (logs.mat, progress.csv, config.yaml),
`checkpoint` (the resumable state) and `baseline` (a random policy's returns). Imports
everything below it (planning, models, config, envs, util); knows nothing of Snakemake.
"""
