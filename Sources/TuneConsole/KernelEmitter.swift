import CPUKernels
import Foundation
import CUDAKernels
import TuneCore
import TuneStore

/// `coordctl emit`: the fastest verified kernel of every task and device class of a campaign,
/// generated again from its schedule for the device that measured it, as source to ship.
/// Pure: rows and profiles in, file names and texts out.
public enum KernelEmitter {
    public struct Choice: Sendable, Equatable {
        public var task: String
        public var deviceClass: String
        public var schedule: String
        public var device: String
        public var agent: String
        public var medianSeconds: Double
    }

    public struct File: Sendable, Equatable {
        public var name: String
        public var text: String
    }

    public struct EmitError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Per task and device class, the `ok` record with the lowest median (ties: first stored).
    public static func best(_ rows: [ExportRow]) -> [Choice] {
        var out: [String: Choice] = [:]
        var order: [String] = []
        for r in rows where r.status == MeasureStatus.ok.rawValue {
            guard let m = r.medianSeconds else { continue }
            let key = r.task + "|" + r.deviceClass
            if let c = out[key], c.medianSeconds <= m { continue }
            if out[key] == nil { order.append(key) }
            out[key] = Choice(task: r.task, deviceClass: r.deviceClass, schedule: r.schedule, device: r.device,
                              agent: r.agent, medianSeconds: m)
        }
        return order.compactMap { out[$0] }
    }

    /// A chosen verified record instead of the best: the `ok` record of `task` with `schedule`
    /// (compared as values, so knob order and spelling of the task do not matter), on `device`
    /// when given. Several devices measured it and none named, or none measured it verified:
    /// an error that says which, for only verified kernels are emitted.
    public static func chosen(_ rows: [ExportRow], task: String, schedule: String, device: String?) throws(EmitError) -> Choice {
        let wantTask: TaskSpec, wantSchedule: Schedule
        do { wantTask = try TaskSpec(name: task) } catch { throw EmitError(description: "--task \(task): \(error)") }
        do { wantSchedule = try Schedule(encoding: schedule) } catch { throw EmitError(description: "--schedule \(schedule): \(error)") }
        let matching = rows.filter { r in
            r.status == MeasureStatus.ok.rawValue && r.medianSeconds != nil && (device == nil || r.device == device)
                && (try? TaskSpec(name: r.task)) == wantTask && (try? Schedule(encoding: r.schedule)) == wantSchedule
        }
        let devices = Set(matching.map(\.device)).sorted()
        guard let fastest = matching.min(by: { $0.medianSeconds! < $1.medianSeconds! }) else {
            throw EmitError(description: "no verified (ok) record of \(task) with schedule \(schedule)\(device.map { " on device \($0)" } ?? ""): only measured and verified schedules are emitted")
        }
        guard devices.count == 1 else {
            throw EmitError(description: "\(devices.count) devices measured this schedule (\(devices.joined(separator: ", "))): name one with --device")
        }
        return Choice(task: fastest.task, deviceClass: fastest.deviceClass, schedule: fastest.schedule, device: fastest.device,
                      agent: fastest.agent, medianSeconds: fastest.medianSeconds!)
    }

    /// One emitted kernel: its file, the flags it builds with (C) and its task.
    public struct Kernel: Sendable {
        public var choice: Choice
        public var file: File
        public var flags: [String]
        public var task: TaskSpec
    }

    /// The source file of one choice: a header saying what it is, how fast it was, where, and
    /// how to build and call it, then the generated kernel.
    public static func file(for c: Choice, profile: DeviceProfile?) throws(EmitError) -> File {
        try kernel(for: c, profile: profile).file
    }

    public static func kernel(for c: Choice, profile: DeviceProfile?) throws(EmitError) -> Kernel {
        let task: TaskSpec
        let schedule: Schedule
        do { task = try TaskSpec(name: c.task) } catch { throw EmitError(description: "\(c.task): \(error)") }
        do { schedule = try Schedule(encoding: c.schedule) } catch { throw EmitError(description: "\(c.task): \(error)") }
        guard let profile else {
            throw EmitError(description: "\(c.task): no profile of device \(c.device) in the database")
        }
        let kernel: GeneratedKernel
        let threads = schedule["threads"] ?? 1
        do {
            switch DeviceClass(rawValue: c.deviceClass) {
            case .cpu?:
                kernel = try CPUKernels.generate(task: task, schedule: schedule, device: profile,
                                                 threads: threads, options: CodegenOptions(libraryEntry: entryName(c)))
            case .cuda?:
                kernel = try CUDAKernels.generate(task: task, schedule: schedule, device: profile, options: CodegenOptions())
            case nil:
                throw EmitError(description: "\(c.task): unknown device class \(c.deviceClass)")
            }
        } catch let e as EmitError {
            throw e
        } catch {
            throw EmitError(description: "\(c.task) [\(c.schedule)]: \(error)")
        }
        var h = "// TuneFleet tuned kernel: \(c.task)\n"
        let rate = task.flops > 0 ? String(format: ", %.1f GFLOP/s", task.flops / c.medianSeconds / 1e9) : ""
        h += "// measured: median \(String(format: "%.3f", c.medianSeconds * 1e6)) us\(rate) on \(profile.model) "
        h += "(\(c.deviceClass), fingerprint \(c.device), agent \(c.agent)); verified against the reference\n"
        h += "// schedule: \(c.schedule)\n"
        h += "// " + buildLine(kernel, profile: profile, fileName: fileName(c)) + "\n"
        let args = task.tensors.map { "\($0.name)[\($0.elementCount)] (\($0.role.rawValue))" }.joined(separator: ", ")
        if kernel.language == .c {
            let name = entryName(c)
            h += "// call: int \(name)(float *const *args, void *scratch), args = { \(args) }, row-major, "
            h += "in the layout the task names; returns 0\n"
            h += "// scratch: \(name)_scratch_bytes() bytes, 64-byte aligned (aligned_alloc(64, ...)), one per concurrent call;\n"
            h += "//   its contents need no initialization (the kernel zero-fills it on first use, or when it last served\n"
            h += "//   another kernel); the kernel keeps no state of its own between calls\n"
            h += "// prepare: a kernel may keep weights packed in its scratch (packed on the first call with that scratch);\n"
            h += "//   after changing the weights, call int \(name)_prepare(args, scratch) once before the next call\n"
            h += threads > 1
                ? "// threads: \(threads) OpenMP threads per call (the tuned value; build and link with -fopenmp)\n"
                : "// threads: single-threaded; call it from as many threads at once as you like, each with its own scratch\n"
        } else {
            h += "// arguments of every entry, in order: \(args) (float device pointers)\n"
            h += "// one run = these launches in order:\n"
            for l in kernel.launches {
                h += "//   \(l.entry) grid(\(l.grid.map(String.init).joined(separator: ","))) block(\(l.block.map(String.init).joined(separator: ",")))"
                h += " dynamic shared memory \(l.sharedMemBytes) B\n"
            }
        }
        return Kernel(choice: c, file: File(name: fileName(c), text: h + "\n" + kernel.source),
                      flags: kernel.language == .c ? compilerFlags(kernel, profile: profile) : [], task: task)
    }

    /// `matmul(m=128,...,f32)` -> `matmul_m_128_..._f32`: the task as a C identifier.
    static func taskStem(_ c: Choice) -> String {
        var base = String(c.task.map { $0.isLetter || $0.isNumber ? $0 : "_" })
        while base.contains("__") { base = base.replacingOccurrences(of: "__", with: "_") }
        while base.hasSuffix("_") { base.removeLast() }
        return base
    }

    /// `matmul(m=128,...,f32)` on cuda -> `matmul_m_128_..._f32.cuda.cu`.
    public static func fileName(_ c: Choice) -> String {
        taskStem(c) + "." + c.deviceClass + (c.deviceClass == DeviceClass.cuda.rawValue ? ".cu" : ".c")
    }

    /// The library entry of a CPU kernel: operator, shape and device class, as a C name.
    public static func entryName(_ c: Choice) -> String {
        "tunefleet_" + taskStem(c) + "_" + c.deviceClass
    }

    /// The flags the kernel was measured with, with `-march=native` replaced by the x86-64
    /// level the device's profile shows (its recorded vector extensions: AVX-512 F/BW/VL,
    /// AVX2 + FMA, SSE4.2), so the library builds the same code on another host.
    public static func compilerFlags(_ k: GeneratedKernel, profile: DeviceProfile) -> [String] {
        let isa = Set(profile.isa.map { $0.lowercased() })
        let level: CPUTargetLevel? = isa.isSuperset(of: ["avx512f", "avx512bw", "avx512vl"]) ? .x86_64_v4
            : isa.isSuperset(of: ["avx2", "fma"]) ? .x86_64_v3 : isa.contains("sse4_2") ? .x86_64_v2 : nil
        return (profile.compilerFlags + k.extraFlags).map { f in
            f == "-march=native" ? level.map { "-march=\($0.rawValue)" } ?? f : f
        }
    }

    /// `tunefleet_kernels.h` declaring every CPU kernel of `kernels`, and a Makefile that builds
    /// them into `libtunefleet_kernels.a` with the flags each was measured with.
    public static func library(_ kernels: [Kernel]) -> [File] {
        let cpu = kernels.filter { $0.choice.deviceClass == DeviceClass.cpu.rawValue }
        var h = "/* TuneFleet tuned kernels: one entry per task, each with its scratch size. Build: make. */\n"
        h += "#ifndef TUNEFLEET_KERNELS_H\n#define TUNEFLEET_KERNELS_H\n#include <stddef.h>\n"
        h += "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
        for k in cpu {
            let name = entryName(k.choice)
            let args = k.task.tensors.map { "\($0.name)[\($0.elementCount)]" }.joined(separator: ", ")
            h += "/* \(k.choice.task): args = { \(args) } (inputs first, the output last) */\n"
            h += "size_t \(name)_scratch_bytes(void);\nint \(name)(float *const *args, void *scratch);\n"
            h += "int \(name)_prepare(float *const *args, void *scratch);\n\n"
        }
        h += "#ifdef __cplusplus\n}\n#endif\n#endif\n"
        var m = "# Builds libtunefleet_kernels.a from the tuned kernels, each with the flags it was measured with.\n"
        m += "CC ?= cc\nAR ?= ar\n\n"
        let objects = cpu.map { String($0.file.name.dropLast(2)) + ".o" }
        m += "libtunefleet_kernels.a: \(objects.joined(separator: " "))\n\t$(AR) rcs $@ $^\n\n"
        for (k, o) in zip(cpu, objects) {
            m += "\(o): \(k.file.name) tunefleet_kernels.h\n\t$(CC) \(k.flags.joined(separator: " ")) -fPIC -c $< -o $@\n\n"
        }
        m += "clean:\n\trm -f libtunefleet_kernels.a \(objects.joined(separator: " "))\n\n.PHONY: clean\n"
        return [File(name: "tunefleet_kernels.h", text: h), File(name: "Makefile", text: m)]
    }

    /// How the agent built it: the same compiler flags (C) or architecture (NVRTC).
    static func buildLine(_ k: GeneratedKernel, profile: DeviceProfile, fileName: String) -> String {
        switch k.language {
        case .c:
            let flags = compilerFlags(k, profile: profile).joined(separator: " ")
            return "build: \(profile.compiler.isEmpty ? "cc" : profile.compiler) \(flags) -fPIC -c \(fileName) -o kernel.o\n"
                + "// or: make (the Makefile beside it builds every kernel into libtunefleet_kernels.a)"
        case .cuda:
            let arch = DeviceProfile.cudaArchitecture(computeCapability: profile.computeCapability) ?? "sm_?"
            return "build: NVRTC (or nvcc -cubin) for \(arch), e.g. nvcc -cubin -arch=\(arch) \(fileName)"
        }
    }
}
