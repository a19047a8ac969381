"""The kernel layer: per-CPU contexts, IRQs, VMX, locks, IPIs, cpuhp and the SEAMCALL instruction.

``state`` holds the immutable, hashable state; ``lang`` the small instruction language in which the
designs write kernel functions; ``machine`` runs them (enabled steps, taking a step, describing a state).
"""
