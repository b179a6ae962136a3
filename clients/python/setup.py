"""Generates feedrank_client/_gen/reranker_pb2{,_grpc}.py from the repository's proto/ (or
$FEEDRANK_PROTO_DIR) with grpcio-tools while the package is built, so the stubs always match the
protobuf that built them. Everything else is in pyproject.toml."""
import os
import re

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def generate(out_pkg):
    from grpc_tools import protoc  # a build requirement (pyproject.toml)

    proto_dir = os.environ.get("FEEDRANK_PROTO_DIR") or os.path.join(HERE, "..", "..", "proto")
    src = os.path.join(proto_dir, "feedrank", "v1", "reranker.proto")
    if not os.path.exists(src):
        raise SystemExit(f"feedrank-client: {src} not found (build from the feedrank repository, or set FEEDRANK_PROTO_DIR)")
    tmp = os.path.join(out_pkg, "_protoc")
    os.makedirs(tmp, exist_ok=True)
    if protoc.main(["protoc", f"-I{proto_dir}", f"--python_out={tmp}", f"--grpc_python_out={tmp}", src]) != 0:
        raise SystemExit("feedrank-client: protoc failed")
    for name in ("reranker_pb2.py", "reranker_pb2_grpc.py"):
        text = open(os.path.join(tmp, "feedrank", "v1", name)).read()
        # the stubs live inside this package, not in a top-level `feedrank` package
        text = re.sub(r"^from feedrank\.v1 import ", "from . import ", text, flags=re.M)
        with open(os.path.join(out_pkg, name), "w") as f:
            f.write(text)
    for root, dirs, files in os.walk(tmp, topdown=False):
        for f in files:
            os.remove(os.path.join(root, f))
        os.rmdir(root)


class BuildWithStubs(build_py):
    def run(self):
        super().run()
        generate(os.path.join(self.build_lib, "feedrank_client", "_gen"))


setup(cmdclass={"build_py": BuildWithStubs})
