import Foundation
import Testing
import CPUKernels
import KernelReference
import TuneCore
@testable import TuneConsole

/// `coordctl emit` as a user ships it: every CPU kernel of a multi-task campaign in one
/// static library, linked into one program that calls them all from two threads at once.
@Suite struct EmittedLibrary {
    /// An x86-64-v2 CPU with two threads: code for it runs on any x86-64 machine CI has.
    var cpu: DeviceProfile {
        var p = DeviceProfile(deviceClass: .cpu, model: "Test x86-64-v2")
        p.isa = ["sse4_2"]; p.vectorBits = 128; p.cores = 2; p.threads = 2
        p.l1dBytes = 32 << 10; p.l2Bytes = 1 << 20; p.l3Bytes = 8 << 20
        p.compiler = "cc"; p.compilerFlags = ["-O3", "-march=native"]
        return p
    }

    let tasks: [TaskSpec] = [
        try! TaskSpec(op: .matmul, params: ["m": 24, "n": 40, "k": 36, "bias": 1, "act": Activation.gelu.rawValue]),
        try! TaskSpec(op: .conv2d, params: ["c": 8, "h": 12, "w": 12, "k": 16, "r": 3, "s": 3, "pad": 1]),
        try! TaskSpec(op: .depthwiseConv2d, params: ["c": 16, "h": 10, "w": 10, "r": 3, "s": 3, "pad": 1]),
        try! TaskSpec(op: .softmax, params: ["rows": 6, "cols": 50]),
    ]

    func run(_ exe: String, _ args: [String], in dir: String) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        let pipe = Pipe()
        p.standardOutput = pipe; p.standardError = pipe
        try p.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: out, as: UTF8.self))
    }

    @Test func everyKernelLinksIntoOneLibraryAndRunsRightFromTwoThreadsAtOnce() throws {
        let dir = NSTemporaryDirectory() + "tunefleet-emit-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var rng = SplitMix64(seed: 5)
        var kernels: [KernelEmitter.Kernel] = []
        for (i, task) in tasks.enumerated() {
            // One of them two-threaded: its OpenMP team shares scratch within a call, never across calls.
            let threads = i == 0 ? 2 : 1
            let space = try #require(CPUKernels.space(for: task, device: cpu, threads: threads))
            var schedule = try #require(space.sample(using: &rng))
            // The conv as the packed template (vectors along output channels), which keeps weights packed in scratch.
            while task.op == .conv2d && schedule["axis"] != 1 { schedule = try #require(space.sample(using: &rng)) }
            if schedule["threads"] != nil, i != 0 { schedule = Schedule(schedule.values.merging(["threads": 1]) { $1 }) }
            let choice = KernelEmitter.Choice(task: task.name, deviceClass: "cpu", schedule: schedule.encoding, device: "d", agent: "a",
                                              medianSeconds: 1e-3)
            kernels.append(try KernelEmitter.kernel(for: choice, profile: cpu))
        }
        #expect(Set(kernels.map { KernelEmitter.entryName($0.choice) }).count == tasks.count, "unique entry names")
        #expect(kernels.allSatisfy { !$0.file.text.contains("static float") && !$0.file.text.contains("static long ") && $0.flags.contains("-march=x86-64-v2") && !$0.flags.contains("-march=native") })
        var avx512 = cpu; avx512.isa = ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl"]
        #expect(KernelEmitter.compilerFlags(GeneratedKernel(language: .c, source: ""), profile: avx512).contains("-march=x86-64-v4"))
        for f in kernels.map(\.file) + KernelEmitter.library(kernels) { try f.text.write(toFile: dir + "/" + f.name, atomically: true, encoding: .utf8) }
        let (makeRC, makeOut) = try run("/usr/bin/env", ["make", "-s"], in: dir)
        #expect(makeRC == 0, "\(makeOut)")
        #expect(FileManager.default.fileExists(atPath: dir + "/libtunefleet_kernels.a"))

        // Inputs from the reference's deterministic data; each thread copies them, runs every
        // kernel with its own scratch (three times), and writes its outputs.
        var references: [TensorBuffers] = []
        var driver = "#include <pthread.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include \"tunefleet_kernels.h\"\n"
        driver += "static pthread_barrier_t start;\n"
        driver += "static float *load(const char *f, size_t n) { float *p = aligned_alloc(64, (n * 4 + 63) / 64 * 64); FILE *fp = fopen(f, \"rb\"); if (!fp || fread(p, 4, n, fp) != n) exit(3); fclose(fp); return p; }\n"
        driver += "static void *work(void *arg) {\n  long t = (long)arg; char name[64];\n  pthread_barrier_wait(&start);\n"
        for (i, k) in kernels.enumerated() {
            let ref = TensorBuffers(task: k.task)
            ref.fillInputs()
            for j in ref.inputIndices {
                try Data(buffer: UnsafeBufferPointer(ref.buffer(j))).write(to: URL(fileURLWithPath: "\(dir)/in_\(i)_\(j).bin"))
            }
            Reference.compute(ref)
            references.append(ref)
            let name = KernelEmitter.entryName(k.choice)
            driver += "  {\n    float *a[\(k.task.tensors.count)];\n"
            for (j, t) in k.task.tensors.enumerated() {
                driver += t.role == .input ? "    a[\(j)] = load(\"in_\(i)_\(j).bin\", \(t.elementCount));\n"
                    : "    a[\(j)] = aligned_alloc(64, (\(t.elementCount) * 4 + 63) / 64 * 64); memset(a[\(j)], 0xff, \(t.elementCount) * 4);\n"
            }
            // Scratch full of garbage, as a reused buffer would be: the padded copies' halos must not read it.
            driver += "    size_t sb = (\(name)_scratch_bytes() + 63) / 64 * 64; void *s = aligned_alloc(64, sb); memset(s, 0x7f, sb);\n"
            // First with every input doubled (a kernel that keeps packed weights packs those),
            // then the real inputs and _prepare: stale packed weights would double the output.
            let inputs = k.task.tensors.indices.filter { k.task.tensors[$0].role == .input }
            for j in inputs { driver += "    for (long e = 0; e < \(k.task.tensors[j].elementCount); e++) a[\(j)][e] *= 2.0f;\n" }
            driver += "    if (\(name)(a, s) != 0) exit(4);\n"
            for j in inputs { driver += "    for (long e = 0; e < \(k.task.tensors[j].elementCount); e++) a[\(j)][e] *= 0.5f;\n" }
            driver += "    if (\(name)_prepare(a, s) != 0) exit(4);\n"
            driver += "    for (int r = 0; r < 3; r++) if (\(name)(a, s) != 0) exit(4);\n"
            let out = k.task.tensors.count - 1
            driver += "    snprintf(name, sizeof name, \"out_%ld_\(i).bin\", t); FILE *fp = fopen(name, \"wb\"); fwrite(a[\(out)], 4, \(k.task.tensors[out].elementCount), fp); fclose(fp);\n  }\n"
        }
        driver += "  return 0;\n}\nint main(void) {\n  pthread_t th[2]; pthread_barrier_init(&start, 0, 2);\n"
        driver += "  for (long t = 0; t < 2; t++) pthread_create(&th[t], 0, work, (void *)t);\n"
        driver += "  for (int t = 0; t < 2; t++) pthread_join(th[t], 0);\n  return 0;\n}\n"
        try driver.write(toFile: dir + "/main.c", atomically: true, encoding: .utf8)
        let (ccRC, ccOut) = try run("/usr/bin/env", ["cc", "-O1", "-fopenmp", "main.c", "-L.", "-ltunefleet_kernels", "-lm", "-lpthread", "-o", "main"], in: dir)
        #expect(ccRC == 0, "\(ccOut)")
        let (rc, out) = try run(dir + "/main", [], in: dir)
        #expect(rc == 0, "\(out)")
        for (i, k) in kernels.enumerated() {
            let o = k.task.tensors.count - 1
            let expected = UnsafeBufferPointer(references[i].buffer(o))
            for t in 0..<2 {
                let data = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/out_\(t)_\(i).bin"))
                let got = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
                #expect(got.count == expected.count)
                let problem = got.withUnsafeBufferPointer { Verifier(task: k.task).check(output: $0, expected: expected) }
                #expect(problem == nil, "\(k.task.name) thread \(t): \(problem ?? "")")
            }
        }
    }
}
