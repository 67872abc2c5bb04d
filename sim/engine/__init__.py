"""The world being simulated: storage, snapshots, mirrors, network, and the Model that builds and runs it."""
