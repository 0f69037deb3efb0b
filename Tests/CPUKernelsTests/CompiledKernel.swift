import Foundation
import KernelReference
import TuneCore

/// Test-only: builds generated C with the agent's command line into a temp dir and loads it.
final class CompiledKernel {
    let loaded: LoadedKernel

    struct BuildFailure: Error, CustomStringConvertible { var description: String }

    init(_ kernel: GeneratedKernel) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tunefleet-cpu-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let src = dir.appendingPathComponent("k.c"), lib = dir.appendingPathComponent("k.so")
        try kernel.source.write(to: src, atomically: true, encoding: .utf8)
        let cc = Process()
        cc.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        cc.arguments = ["cc", "-O3", "-march=native", "-shared", "-fPIC"] + kernel.extraFlags + [src.path, "-o", lib.path]
        let errors = Pipe()
        cc.standardError = errors
        try cc.run()
        let log = errors.fileHandleForReading.readDataToEndOfFile()
        cc.waitUntilExit()
        guard cc.terminationStatus == 0 else {
            throw BuildFailure(description: "cc failed: " + String(decoding: log, as: UTF8.self))
        }
        do {
            loaded = try LoadedKernel(path: lib.path, kernel: kernel, scratchIndex: 8)
        } catch {
            throw BuildFailure(description: error.description)
        }
    }

    func run(_ args: UnsafePointer<UnsafeMutablePointer<Float>>) -> Int32 { loaded.run(args) }
}

/// The machine running the tests, as far as code generation cares.
enum HostDevice {
    static let profile: DeviceProfile = {
        var d = DeviceProfile(deviceClass: .cpu, model: "test-host")
        let flags = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        d.vectorBits = flags.contains(" avx512f") ? 512 : flags.contains(" avx2") ? 256 : 128
        d.isa = d.vectorBits == 512 ? ["avx512f"] : []
        d.l1dBytes = 32 << 10; d.l2Bytes = 1 << 20
        d.cores = 2; d.threads = 2
        return d
    }()
}
