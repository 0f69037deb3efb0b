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

    /// The source file of one choice: a header saying what it is, how fast it was, where, and
    /// how to build and call it, then the generated kernel.
    public static func file(for c: Choice, profile: DeviceProfile?) throws(EmitError) -> File {
        let task: TaskSpec
        let schedule: Schedule
        do { task = try TaskSpec(name: c.task) } catch { throw EmitError(description: "\(c.task): \(error)") }
        do { schedule = try Schedule(encoding: c.schedule) } catch { throw EmitError(description: "\(c.task): \(error)") }
        guard let profile else {
            throw EmitError(description: "\(c.task): no profile of device \(c.device) in the database")
        }
        let kernel: GeneratedKernel
        do {
            switch DeviceClass(rawValue: c.deviceClass) {
            case .cpu?:
                kernel = try CPUKernels.generate(task: task, schedule: schedule, device: profile,
                                                 threads: schedule["threads"] ?? 1, options: CodegenOptions())
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
            h += "// call: int \(kernel.entry)(float *const *args), args = { \(args) }; returns 0 on success\n"
        } else {
            h += "// arguments of every entry, in order: \(args) (float device pointers)\n"
            h += "// one run = these launches in order:\n"
            for l in kernel.launches {
                h += "//   \(l.entry) grid(\(l.grid.map(String.init).joined(separator: ","))) block(\(l.block.map(String.init).joined(separator: ",")))"
                h += " dynamic shared memory \(l.sharedMemBytes) B\n"
            }
        }
        return File(name: fileName(c), text: h + "\n" + kernel.source)
    }

    /// `matmul(m=128,...,f32)` on cuda -> `matmul_m_128_..._f32.cuda.cu`.
    public static func fileName(_ c: Choice) -> String {
        var base = String(c.task.map { $0.isLetter || $0.isNumber ? $0 : "_" })
        while base.contains("__") { base = base.replacingOccurrences(of: "__", with: "_") }
        while base.hasSuffix("_") { base.removeLast() }
        return base + "." + c.deviceClass + (c.deviceClass == DeviceClass.cuda.rawValue ? ".cu" : ".c")
    }

    /// How the agent built it: the same compiler flags (C) or architecture (NVRTC).
    static func buildLine(_ k: GeneratedKernel, profile: DeviceProfile, fileName: String) -> String {
        switch k.language {
        case .c:
            let flags = (profile.compilerFlags + k.extraFlags).joined(separator: " ")
            return "build: \(profile.compiler.isEmpty ? "cc" : profile.compiler) \(flags) -shared -fPIC \(fileName) -o kernel.so"
        case .cuda:
            let arch = DeviceProfile.cudaArchitecture(computeCapability: profile.computeCapability) ?? "sm_?"
            return "build: NVRTC (or nvcc -cubin) for \(arch), e.g. nvcc -cubin -arch=\(arch) \(fileName)"
        }
    }
}
