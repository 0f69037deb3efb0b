import CUDAKernels
import CUDATestSupport
import Foundation
import Testing
import TuneCore

/// Generated CUDA sources compiled with the host C++ compiler against the host shim and
/// checked against a double-precision reference: correctness without a GPU.
@Suite struct HostShimTests {
    static let compiler: String? = ["/usr/bin/g++", "/usr/bin/c++", "/usr/local/bin/g++"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    @Test(.enabled(if: compiler != nil, "no host C++ compiler (g++) found: host-shim checks skipped"))
    func generatedKernelsMatchTheReferenceOnTheHost() throws {
        let device = h100Profile()
        var cases: [(TaskSpec, GeneratedKernel, [[Float]])] = []
        var rng = SplitMix64(seed: 2024)
        for (n, t) in smallTasks.enumerated() {
            let space = try #require(CUDAKernels.space(for: t, device: device))
            var schedules: [Schedule] = []
            for _ in 0..<3 { if let s = space.sample(using: &rng) { schedules.append(s) } }
            schedules += handPicked(t, space: space)
            var seen = Set<Schedule>()
            for s in schedules where seen.insert(s).inserted {
                let k = try CUDAKernels.generate(task: t, schedule: s, device: device, options: CodegenOptions())
                cases.append((t, k, makeInputs(t, seed: UInt64(n * 100 + cases.count))))
            }
        }
        let outputs = try runOnHost(cases)
        var failures: [String] = []
        for (i, (t, k, ins)) in cases.enumerated() {
            if let (at, got, want) = firstMismatch(outputs[i], reference(t, ins), task: t) {
                failures.append("\(t.name) \(k.source.split(separator: "\n")[1]): [\(at)] got \(got) want \(want)")
            }
        }
        #expect(failures.isEmpty, "\(failures.count) of \(cases.count) kernels wrong:\n\(failures.joined(separator: "\n"))")
    }

    @Test(.enabled(if: compiler != nil, "no host C++ compiler (g++) found: host-shim checks skipped"))
    func faultThreeIsCaughtByVerification() throws {
        let t = task(.matmul, ["m": 20, "n": 20, "k": 20])
        let s = Schedule(["bm": 16, "bn": 16, "bk": 8, "tm": 2, "tn": 2, "wx": 8, "va": 4, "vb": 4, "db": 1,
                          "pad": 0, "splitk": 1, "wk": 1, "swz": 1, CUDAKernels.faultKnob: 3])
        let k = try CUDAKernels.generate(task: t, schedule: s, device: h100Profile(), options: CodegenOptions(allowFaultInjection: true))
        let ins = makeInputs(t, seed: 1)
        let out = try runOnHost([(t, k, ins)])
        let bad = try #require(firstMismatch(out[0], reference(t, ins), task: t))
        #expect(bad.0 == 0)
    }

    /// Schedules that exercise paths random samples may miss: split-K, double buffering,
    /// vector loads, swizzle, the fast tiles.
    func handPicked(_ t: TaskSpec, space: any ScheduleSpace) -> [Schedule] {
        var out: [Schedule] = []
        switch t.op {
        case .matmul, .batchMatmul, .conv2d:
            let candidates: [[String: Int]] = [
                ["bm": 32, "bn": 32, "bk": 8, "tm": 4, "tn": 4, "wx": 4, "va": 4, "vb": 4, "db": 1, "pad": 4, "splitk": 2, "wk": 1, "swz": 1],
                ["bm": 16, "bn": 32, "bk": 16, "tm": 2, "tn": 4, "wx": 8, "va": 1, "vb": 1, "db": 0, "pad": 0, "splitk": 1, "wk": 1, "swz": 1],
                ["bm": 64, "bn": 64, "bk": 8, "tm": 8, "tn": 8, "wx": 4, "va": 4, "vb": 4, "db": 1, "pad": 4, "splitk": 1, "wk": 1, "swz": 1],
                ["bm": 16, "bn": 16, "bk": 8, "tm": 1, "tn": 1, "wx": 16, "va": 1, "vb": 4, "db": 1, "pad": 0, "splitk": 4, "wk": 1, "swz": 1],
                ["bm": 16, "bn": 16, "bk": 8, "tm": 1, "tn": 1, "wx": 16, "va": 1, "vb": 1, "db": 0, "pad": 0, "splitk": 1, "wk": 1, "swz": 4],
                // Sliced K: four shares of each slice, with and without split-K and double buffering.
                ["bm": 32, "bn": 32, "bk": 16, "tm": 4, "tn": 4, "wx": 4, "va": 1, "vb": 4, "db": 1, "pad": 4, "splitk": 2, "wk": 4, "swz": 1],
                ["bm": 16, "bn": 32, "bk": 8, "tm": 2, "tn": 2, "wx": 8, "va": 4, "vb": 1, "db": 0, "pad": 0, "splitk": 1, "wk": 2, "swz": 1],
            ]
            for c in candidates {
                var v = c
                if space.constraintViolation(Schedule(v)) != nil { v["va"] = 1; v["vb"] = 1 }
                if space.constraintViolation(Schedule(v)) != nil { v["splitk"] = 1 }
                if space.isValid(Schedule(v)) { out.append(Schedule(v)) }
            }
        case .softmax:
            for mode in [0, 1] { for online in [0, 1] {
                let s = Schedule(["mode": mode, "threads": 64, "vec": 4, "online": online])
                if space.isValid(s) { out.append(s) }
            } }
        case .depthwiseConv2d:
            for s in [Schedule(["threads": 64, "qpt": 4, "vc": 4]), Schedule(["threads": 128, "qpt": 2, "vc": 1])] where space.isValid(s) {
                out.append(s)
            }
        case .elementwise:
            out.append(Schedule(["threads": 64, "vec": 1, "ilp": 4]))
        }
        return out
    }

    /// Compiles all kernels into one host program (entries are unique per task and
    /// schedule), runs every case on poisoned outputs and returns each case's output.
    func runOnHost(_ cases: [(TaskSpec, GeneratedKernel, [[Float]])]) throws -> [[Float]] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tf-shim-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try CUDAKernels.hostShimHeader.write(to: dir.appendingPathComponent("host_shim.h"), atomically: true, encoding: .utf8)
        var src = cases.map(\.1.source).joined(separator: "\n")
        src += """

        #include <cstdio>
        static float* tf_read(const char* path, size_t n) {
            float* p = static_cast<float*>(std::aligned_alloc(64, (n * 4 + 63) / 64 * 64));
            FILE* f = std::fopen(path, "rb");
            if (!f || std::fread(p, 4, n, f) != n) { std::fprintf(stderr, "read %s\\n", path); std::exit(2); }
            std::fclose(f);
            return p;
        }
        static float* tf_poisoned(size_t n) {
            float* p = static_cast<float*>(std::aligned_alloc(64, (n * 4 + 63) / 64 * 64));
            for (size_t i = 0; i < n; ++i) p[i] = std::nanf("");
            return p;
        }
        static void tf_write(const char* path, const float* p, size_t n) {
            FILE* f = std::fopen(path, "wb");
            if (!f || std::fwrite(p, 4, n, f) != n) { std::fprintf(stderr, "write %s\\n", path); std::exit(2); }
            std::fclose(f);
        }
        int main() {

        """
        for (i, (t, k, ins)) in cases.enumerated() {
            var args: [String] = []
            var inputIndex = 0
            src += "    {\n"
            for (j, d) in t.tensors.enumerated() {
                if d.role == .input {
                    let path = dir.appendingPathComponent("c\(i)_in\(j).bin").path
                    try ins[inputIndex].withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: path)) }
                    inputIndex += 1
                    src += "        float* t\(j) = tf_read(\"\(path)\", \(d.elementCount));\n"
                } else {
                    src += "        float* t\(j) = tf_poisoned(\(d.elementCount));\n"
                }
                args.append("t\(j)")
            }
            for l in k.launches {
                src += "        tf_launch(\(l.entry), dim3(\(l.grid.map(String.init).joined(separator: ", "))), "
                src += "dim3(\(l.block.map(String.init).joined(separator: ", "))), \(l.sharedMemBytes), \(args.joined(separator: ", ")));\n"
            }
            let out = t.tensors.count - 1
            src += "        tf_write(\"\(dir.appendingPathComponent("c\(i)_out.bin").path)\", t\(out), \(t.tensors[out].elementCount));\n"
            src += "    }\n"
        }
        src += "    return 0;\n}\n"
        let cpp = dir.appendingPathComponent("kernels.cpp")
        try src.write(to: cpp, atomically: true, encoding: .utf8)
        let exe = dir.appendingPathComponent("kernels").path
        try run(Self.compiler!, ["-std=c++20", "-O1", "-w", "-fno-strict-aliasing", "-pthread",
                                 "-include", dir.appendingPathComponent("host_shim.h").path, cpp.path, "-o", exe],
                timeout: 300)
        try run(exe, [], timeout: 300)
        return try cases.indices.map { i in
            let data = try Data(contentsOf: dir.appendingPathComponent("c\(i)_out.bin"))
            return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        }
    }

    func run(_ exe: String, _ args: [String], timeout: Double) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        // stderr goes to a file, so a hung child cannot block us on a full pipe.
        let errPath = FileManager.default.temporaryDirectory.appendingPathComponent("tf-shim-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: errPath.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errPath) }
        p.standardError = try FileHandle(forWritingTo: errPath)
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        if p.isRunning { p.terminate(); throw ShimError(message: "\(exe) timed out after \(timeout) s") }
        let errData = (try? Data(contentsOf: errPath)) ?? Data()
        guard p.terminationStatus == 0 else {
            throw ShimError(message: "\(exe) exited \(p.terminationStatus): \(String(decoding: errData.prefix(4000), as: UTF8.self))")
        }
    }
}

struct ShimError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
