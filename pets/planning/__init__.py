"""Planning with a learned model (docs/spec/pets-facts.md §6): propagation, optimizers, the MPC.

Modules: `propagation` (E, DS, TS1, TSinf, MM: particles through a model), `forward` (the
re-plan's TSinf ensemble forward in buffers allocated once, beside `pets.models.ensemble`,
which it must equal), `optimizers` (CEM, random shooting), `mpc` (candidate costs, the
controller) and `capture` (the re-plan as a CUDA graph). Imports `pets.models`, `pets.config`
and `pets.util`; knows nothing of runs, files or environments (a task is a protocol).
"""
