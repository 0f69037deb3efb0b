#!/usr/bin/env bash
# Regenerates Sources/TuneWire/Generated/tunefleet.pb.swift from protocol/tunefleet.proto.
# Needs protoc (Debian: protobuf-compiler); builds protoc-gen-swift from the package's
# own SwiftProtobuf dependency so the runtime and generator versions match.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc >/dev/null || { echo "protoc not found: apt-get install protobuf-compiler" >&2; exit 1; }
swift build --product protoc-gen-swift -c release >/dev/null
plugin="$(swift build --product protoc-gen-swift -c release --show-bin-path)/protoc-gen-swift"
mkdir -p Sources/TuneWire/Generated
protoc --plugin=protoc-gen-swift="$plugin" --swift_opt=Visibility=Public \
  --swift_out=Sources/TuneWire/Generated -I protocol protocol/tunefleet.proto
echo "generated Sources/TuneWire/Generated/tunefleet.pb.swift"
