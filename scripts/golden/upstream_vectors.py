#!/usr/bin/env python3
"""upstream_vectors.py MODEL_DIR TEXTS_HEX OUT_PREFIX - golden vectors from upstream
sentence-transformers for the texts in TEXTS_HEX (one hex-encoded UTF-8 text per line, the format
of tests/fixtures/*_golden.txt): writes OUT_PREFIX.txt (the same texts) and OUT_PREFIX.f32
(float32, n x dim). The model runs in float32 on the CPU whatever its weight file's dtype, so the
result is the exact function of those weights. Used on the GPU machine for the fp16 copy of
all-MiniLM-L6-v2 that travels there (scripts/make-f16-model.py)."""
import shutil
import sys

import numpy as np
import torch
from sentence_transformers import SentenceTransformer


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    model_dir, texts_path, out = sys.argv[1:]
    lines = open(texts_path).read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the file ends with a newline; an empty line inside is an empty text
    texts = [bytes.fromhex(line.strip()).decode("utf-8") for line in lines]
    model = SentenceTransformer(model_dir, device="cpu")
    model.float()
    torch.set_num_threads(8)
    with torch.inference_mode():
        v = model.encode(texts, batch_size=32, convert_to_numpy=True, normalize_embeddings=False)
    np.asarray(v, dtype=np.float32).tofile(out + ".f32")
    shutil.copyfile(texts_path, out + ".txt")
    print(f"upstream_vectors: {len(texts)} texts x {v.shape[1]} from {model_dir} ({torch.__version__})")


if __name__ == "__main__":
    main()
