"""Batched torch rewards and terminations of gymnasium 1.4.0's standard tasks, for planning.

For Pendulum-v1, InvertedPendulum-v5, InvertedDoublePendulum-v5 (`classic`), Reacher-v5 and
Pusher-v5 (`arms`), HalfCheetah-v5, Hopper-v5 and Walker2d-v5 (`locomotion`), each module holds
`<task>_reward(obs, act, next_obs)` and, for tasks that end early, `<task>_terminated(obs, act,
next_obs)`, computed on [M, d] batches of gymnasium's own observations so that they equal the
env's returned reward and `terminated` flag; the make keyword arguments the observations assume
are module constants. Facts, sources and the few places where an observation cannot carry what
gymnasium reads are in `docs/spec/gym-tasks.md`.
"""
