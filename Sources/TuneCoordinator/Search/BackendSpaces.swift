import CPUKernels
import CUDAKernels
import TuneCore

enum CPUKernelsSpace {
    static func space(_ task: TaskSpec, _ profile: DeviceProfile, _ plan: MeasurePlan) -> (any ScheduleSpace)? {
        CPUKernels.space(for: task, device: profile, threads: plan.threads)
    }
}

/// The coordinator samples from the same space the agent validates against, built from the
/// agent's probed profile (its shared-memory and thread limits shape the space).
enum CUDAKernelsSpace {
    static func space(_ task: TaskSpec, _ profile: DeviceProfile) -> (any ScheduleSpace)? {
        CUDAKernels.space(for: task, device: profile)
    }
}
