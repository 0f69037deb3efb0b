import CUDADriver
import CUDAKernels
import TuneCore
import TuneSpaces
import TuneSystem
#if canImport(Glibc)
import Glibc
#endif

/// The CUDA backend's agent half: spaces and code from CUDAKernels, compiled by NVRTC to a
/// CUBIN for the device's exact architecture. Needs no driver and no GPU (the profile may
/// come from a probe or be written by hand), so every build path is testable in CI.
public struct CUDABuilder: KernelBuilder {
    public let profile: DeviceProfile
    public let options: CodegenOptions
    let compiler: NVRTCCompiler
    /// `sm_XY` from the profile's compute capability; nil when the profile lacks one.
    public let architecture: String?
    public var deviceClass: DeviceClass { .cuda }
    public let isolation: CompileIsolation

    /// Where NVRTC runs. In this process a compile cannot be interrupted; in a child process
    /// (`tune-agent nvrtc`, as the agent does) one past the plan's compile timeout is killed.
    public enum CompileIsolation: Sendable {
        case inProcess
        /// The command, which gets `--arch ARCH --source FILE.cu --out FILE.cubin` appended,
        /// writes the CUBIN, prints NVRTC's log and exits 0 (non-zero: the log says why).
        case childProcess(executable: String, arguments: [String])
    }

    public init(profile: DeviceProfile, libraries: CUDALibraries = .shared, options: CodegenOptions,
                isolation: CompileIsolation = .inProcess) {
        self.profile = profile; self.options = options; self.isolation = isolation
        compiler = NVRTCCompiler(libraries: libraries)
        architecture = NVRTCCompiler.architecture(computeCapability: profile.computeCapability)
    }

    public func space(for task: TaskSpec, plan: MeasurePlan) -> (any ScheduleSpace)? {
        SpaceCatalog.space(for: task, device: profile, plan: plan)
    }

    /// Safe to call from many threads at once: NVRTC programs are independent.
    public func build(task: TaskSpec, candidate: Candidate, plan: MeasurePlan, workDir: String) -> BuildOutcome {
        func failed(_ s: MeasureStatus, _ text: String, _ seconds: Double = 0, _ detail: [String: String] = [:]) -> BuildOutcome {
            .failed(MeasureResult(candidateID: candidate.id, status: s, compileSeconds: seconds, errorText: text, detail: detail))
        }
        let kernel: GeneratedKernel
        do {
            kernel = try CUDAKernels.generate(task: task, schedule: candidate.schedule, device: profile, options: options)
        } catch {
            return failed(.invalidSchedule, error.description)
        }
        guard let arch = architecture else {
            return failed(.compileError, "device profile has no usable compute capability ('\(profile.computeCapability)')")
        }
        // The candidate id keeps concurrent builds apart; writeFile renames into place.
        let path = "\(workDir)/\(kernel.entry)-\(candidate.id).cubin"
        if case .childProcess(let exe, let args) = isolation {
            return buildInChild(kernel, arch: arch, cubinPath: path, command: (exe, args), plan: plan, failed: failed)
        }
        let module: CompiledModule
        let start = Monotonic.now()
        do {
            module = try compiler.compile(source: kernel.source, name: "\(kernel.entry).cu", architecture: arch)
        } catch {
            // A missing NVRTC is as much a failure to build as a bad kernel: the record says which.
            return failed(.compileError, error.description, Monotonic.now() - start)
        }
        // Registers, spills and static shared memory per entry, from ptxas -v.
        let detail = module.detail
        if plan.compileTimeoutSeconds > 0, module.compileSeconds > plan.compileTimeoutSeconds {
            // NVRTC runs in-process and cannot be interrupted; an over-long build is still
            // recorded as such so that the search learns to avoid it.
            return failed(.compileTimeout, "NVRTC took \(module.compileSeconds) s (limit \(plan.compileTimeoutSeconds) s)",
                          module.compileSeconds, detail)
        }
        do { try writeFile(path, module.cubin) } catch {
            return failed(.compileError, "cannot write the CUBIN: \(error)", module.compileSeconds, detail)
        }
        return .built(BuildArtifact(path: path, kernel: kernel, compileSeconds: module.compileSeconds, detail: detail))
    }

    /// Compiles in a child process that is killed when the plan's compile timeout passes.
    private func buildInChild(_ kernel: GeneratedKernel, arch: String, cubinPath: String,
                              command: (executable: String, arguments: [String]), plan: MeasurePlan,
                              failed: (MeasureStatus, String, Double, [String: String]) -> BuildOutcome) -> BuildOutcome {
        let source = cubinPath.dropLast(".cubin".count) + ".cu"
        let logPath = cubinPath + ".log"
        defer { unlink(String(source)); unlink(logPath) }
        do { try writeFile(String(source), kernel.source) } catch {
            return failed(.compileError, "cannot write the source: \(error)", 0, [:])
        }
        let limit = plan.compileTimeoutSeconds > 0 ? plan.compileTimeoutSeconds : 3600
        let outcome: CommandOutcome
        do {
            // The child also ends itself a little after the limit and dies with the agent.
            outcome = try runCommand(command.executable,
                                     command.arguments + ["--arch", arch, "--source", String(source), "--out", cubinPath,
                                                          "--deadline", "\(limit + 5)"],
                                     timeout: limit, outputFile: logPath)
        } catch {
            return failed(.compileError, "cannot start the compiler process: \(error)", 0, [:])
        }
        if outcome.timedOut {
            return failed(.compileTimeout, "NVRTC did not finish within \(limit) s; its process was killed", outcome.seconds, [:])
        }
        guard outcome.status == .exited(0), fileExists(cubinPath) else {
            let how = outcome.status.map { "\($0)" } ?? "?"
            return failed(.compileError, "NVRTC (\(how)): \(outcome.output)", outcome.seconds, [:])
        }
        let detail = CompiledModule.detail(architecture: arch, resources: NVRTCCompiler.parsePtxasLog(outcome.output))
        return .built(BuildArtifact(path: cubinPath, kernel: kernel, compileSeconds: outcome.seconds, detail: detail))
    }
}
