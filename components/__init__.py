"""kvm-in-a-pod's building blocks: the typed config and one ComponentResource per module."""
