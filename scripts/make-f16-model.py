#!/usr/bin/env python3
"""make-f16-model.py SRC_DIR DST_DIR - copy a sentence-transformers model folder with its
safetensors weights rounded to float16 (half the bytes: all-MiniLM-L6-v2 becomes 45 MB, small
enough to travel to a GPU machine). Every other file is copied as is. Needs numpy + safetensors."""
import os
import shutil
import sys

import numpy as np
from safetensors.numpy import load_file, save_file


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, dst = sys.argv[1], sys.argv[2]
    os.makedirs(dst, exist_ok=True)
    for name in os.listdir(src):
        p = os.path.join(src, name)
        if name == "model.safetensors":
            tensors = load_file(p)
            save_file({k: v.astype(np.float16) if v.dtype == np.float32 else v for k, v in tensors.items()},
                      os.path.join(dst, name), metadata={"format": "pt"})
        elif os.path.isdir(p):
            shutil.copytree(p, os.path.join(dst, name), dirs_exist_ok=True)
        elif not name.endswith((".bin", ".onnx", ".h5", ".msgpack", ".ot")):
            shutil.copy2(p, os.path.join(dst, name))


if __name__ == "__main__":
    main()
