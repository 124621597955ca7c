"""Plumbing under every other part of `pets`: files, threads, memory, devices, locks, signals.

Owns atomic writes (`fileio`), torch files (`torchfile`), CPU threads (`threads`), the
allocator's thresholds (`memory`), device choice (`device`), float32 matmul precision
(`precision`), the run lock (`runlock`), stop signals (`stopping`), objects named as
`module:name` (`imports`) and the CUDA-graph capture helpers shared by the trainer and the
planner (`capture`). Imports only the standard library,
numpy, torch and `pets.errors`; nothing of PETS itself.
"""
