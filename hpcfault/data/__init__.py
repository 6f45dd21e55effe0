"""Training data: synthetic faulted surveys (synth), sparse slice labels (sparse), random training
cubes mixed from several sources (sampling) and their augmentation (augment).

Nothing is imported here so that `import hpcfault.data.sparse` stays light.
"""
