"""Reading and writing survey volumes: HDF5 volume files, SEG-Y, NumPy and raw arrays."""
