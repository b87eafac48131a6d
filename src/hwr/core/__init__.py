"""The basics every other package uses: params, the project's folder layout and run names, the alphabet,
errors, atomic files, staged outputs and worker processes. Imports nothing else of hwr."""
