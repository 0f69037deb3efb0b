import CUDADriver
import CUDAKernels
import TuneCore
import TuneSystem

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

    public init(profile: DeviceProfile, libraries: CUDALibraries = .shared, options: CodegenOptions) {
        self.profile = profile; self.options = options
        compiler = NVRTCCompiler(libraries: libraries)
        architecture = NVRTCCompiler.architecture(computeCapability: profile.computeCapability)
    }

    public func space(for task: TaskSpec, plan: MeasurePlan) -> (any ScheduleSpace)? {
        CUDAKernels.space(for: task, device: profile)
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
        // The candidate id keeps concurrent builds apart; writeFile renames into place.
        let path = "\(workDir)/\(kernel.entry)-\(candidate.id).cubin"
        do { try writeFile(path, module.cubin) } catch {
            return failed(.compileError, "cannot write the CUBIN: \(error)", module.compileSeconds, detail)
        }
        return .built(BuildArtifact(path: path, kernel: kernel, compileSeconds: module.compileSeconds, detail: detail))
    }
}
