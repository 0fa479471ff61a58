"""Generate the Python protobuf stubs the application needs, into ``gen/`` (git-ignored).

Sources, all resolved from the Go module cache with ``go mod download -json`` so nothing is copied
into the repository:

* CometBFT's ``.proto`` files from the release pinned in ``COMETBFT_VERSION``;
* gogoproto's ``gogo.proto`` at the version CometBFT's ``go.mod`` requires;
* the ICS23 ``CommitmentProof`` schema, recovered from the gzipped FileDescriptorProto that the pinned
  ``github.com/cosmos/ics23/go`` module embeds in ``proofs.pb.go`` (the Go module ships no ``.proto``);
* the Cosmos SDK's ``.proto`` files (``cosmos.*``, ``amino``) from the release pinned in
  ``COSMOS_SDK_VERSION``, with ``cosmos_proto`` at the version the SDK's ``go.mod`` requires, and
  ``google/api`` (HTTP annotations) from the pinned ``googleapis-common-protos`` package, whose Python
  stubs it also provides;
* our own API under ``proto/taskmaster``.

Skips all work when ``gen/.stamp`` records the same inputs.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GEN = ROOT / "gen"
ICS23_MODULE = "github.com/cosmos/ics23/go"
ICS23_VERSION = "v0.11.0"
COMETBFT_PROTO_DIRS = ("abci", "crypto", "types", "version", "libs/bits", "p2p")
COSMOS_SDK_MODULE = "github.com/cosmos/cosmos-sdk"
COSMOS_PROTO_MODULE = "github.com/cosmos/cosmos-proto"


def go_module_dir(module: str, version: str) -> Path:
    """Download ``module@version`` into the Go module cache and return its directory."""
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        check=True,
        capture_output=True,
        text=True,
        cwd="/",
    ).stdout
    return Path(json.loads(out)["Dir"])


def required_version(module_dir: Path, dependency: str) -> str:
    """The version of ``dependency`` that the Go module in ``module_dir`` requires in its go.mod."""
    match = re.search(rf"{re.escape(dependency)} (v\S+)", (module_dir / "go.mod").read_text())
    if match is None:
        raise SystemExit(f"cannot find {dependency} in {module_dir / 'go.mod'}")
    return match.group(1)


def gogoproto_version(cometbft_dir: Path) -> str:
    """The gogoproto version required by CometBFT's go.mod."""
    return required_version(cometbft_dir, "github.com/cosmos/gogoproto")


def google_api_include() -> Path:
    """The folder holding ``google/api/*.proto`` in the installed googleapis-common-protos package."""
    import google.api  # type: ignore[import-untyped]

    for folder in google.api.__path__:
        if (Path(folder) / "annotations.proto").exists():
            return Path(folder).parent.parent
    raise SystemExit("googleapis-common-protos is not installed with its .proto files (make venv)")


def ics23_descriptor_set(ics23_dir: Path, out: Path) -> None:
    """Write a FileDescriptorSet holding ICS23's proofs.proto, decoded from the Go stub."""
    from google.protobuf import descriptor_pb2

    source = (ics23_dir / "proofs.pb.go").read_text()
    match = re.search(r"var fileDescriptor_\w+ = \[\]byte\{(.*?)\n\}", source, re.S)
    if match is None:
        raise SystemExit(f"no embedded file descriptor in {ics23_dir / 'proofs.pb.go'}")
    raw = bytes(int(h, 16) for h in re.findall(r"0x([0-9a-f]{2})", match.group(1)))
    fd = descriptor_pb2.FileDescriptorProto.FromString(gzip.decompress(raw))
    fds = descriptor_pb2.FileDescriptorSet(file=[fd])
    out.write_bytes(fds.SerializeToString())


def protoc(args: list[str]) -> None:
    """Run grpc_tools' bundled protoc with its well-known-types include path (quiet unless it fails)."""
    import grpc_tools

    include = str(Path(grpc_tools.__file__).parent / "_proto")
    bindir = Path(sys.executable).parent
    plugins = [f"--plugin=protoc-gen-{n}={bindir / f'protoc-gen-{n}'}" for n in ("mypy", "mypy_grpc")]
    done = subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{include}", *plugins, *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"protoc failed ({done.returncode}):\n{done.stderr}")


def main() -> None:
    version = (ROOT / "COMETBFT_VERSION").read_text().strip()
    sdk_version = (ROOT / "COSMOS_SDK_VERSION").read_text().strip()
    own = sorted(str(p.relative_to(ROOT / "proto")) for p in (ROOT / "proto").rglob("*.proto"))
    digest = hashlib.sha256()
    for rel in own:
        digest.update(rel.encode() + (ROOT / "proto" / rel).read_bytes())
    inputs = (version, sdk_version, ICS23_VERSION, digest.hexdigest(), str(Path(__file__).stat().st_mtime_ns))
    stamp = " ".join(inputs)
    if (GEN / ".stamp").exists() and (GEN / ".stamp").read_text() == stamp:
        return
    print(
        f"==> generating protobuf stubs into gen/ (CometBFT {version}, Cosmos SDK {sdk_version},"
        f" ICS23 {ICS23_VERSION})",
        flush=True,
    )
    cometbft = go_module_dir("github.com/cometbft/cometbft", version)
    gogo = go_module_dir("github.com/cosmos/gogoproto", gogoproto_version(cometbft))
    ics23 = go_module_dir(ICS23_MODULE, ICS23_VERSION)
    GEN.mkdir(exist_ok=True)
    cmt_files = sorted(
        str(p.relative_to(cometbft / "proto"))
        for d in COMETBFT_PROTO_DIRS
        for p in (cometbft / "proto" / "tendermint" / d).glob("*.proto")
    )
    protoc([f"-I{cometbft / 'proto'}", f"-I{gogo}", f"--python_out={GEN}", f"--mypy_out={GEN}", *cmt_files])
    protoc([f"-I{gogo}", f"--python_out={GEN}", f"--mypy_out={GEN}", "gogoproto/gogo.proto"])
    descriptor_set = GEN / "ics23.fds"
    ics23_descriptor_set(ics23, descriptor_set)
    protoc(
        [
            f"--descriptor_set_in={descriptor_set}",
            f"--python_out={GEN}",
            f"--mypy_out={GEN}",
            "cosmos/ics23/v1/proofs.proto",
        ]
    )
    sdk = go_module_dir(COSMOS_SDK_MODULE, sdk_version)
    cosmos_proto = go_module_dir(COSMOS_PROTO_MODULE, required_version(sdk, COSMOS_PROTO_MODULE))
    google_api = google_api_include()
    cosmos_proto_out = [f"--python_out={GEN}", f"--mypy_out={GEN}", "cosmos_proto/cosmos.proto"]
    protoc([f"-I{cosmos_proto / 'proto'}", *cosmos_proto_out])
    sdk_files = sorted(
        str(p.relative_to(sdk / "proto"))
        for p in (sdk / "proto").rglob("*.proto")
        if p.relative_to(sdk / "proto").parts[0] in ("cosmos", "amino")
    )
    sdk_includes = [  # CometBFT's tendermint/*.proto, not the SDK's copies of them
        f"-I{cometbft / 'proto'}",
        f"-I{sdk / 'proto'}",
        f"-I{cosmos_proto / 'proto'}",
        f"-I{gogo}",
        f"-I{google_api}",
    ]
    protoc(
        [
            *sdk_includes,
            f"--python_out={GEN}",
            f"--mypy_out={GEN}",
            f"--grpc_python_out={GEN}",
            f"--mypy_grpc_out={GEN}",
            *sdk_files,
        ]
    )
    if own:
        protoc(
            [
                f"-I{ROOT / 'proto'}",
                *sdk_includes,
                f"--python_out={GEN}",
                f"--mypy_out={GEN}",
                f"--grpc_python_out={GEN}",
                f"--mypy_grpc_out={GEN}",
                *own,
            ]
        )
    for pkg in {p.parent for p in GEN.rglob("*_pb2.py")}:
        for d in [pkg, *pkg.relative_to(GEN).parents]:
            if d.parts and d.parts[0] == "google":  # a namespace package shared with protobuf's stubs
                continue
            init = (GEN / d) / "__init__.py" if not d.is_absolute() else d / "__init__.py"
            if init.parent != GEN and not init.exists():
                init.write_text("")
    (GEN / ".stamp").write_text(stamp)
    print("==> protobuf stubs ready", flush=True)


if __name__ == "__main__":
    main()
