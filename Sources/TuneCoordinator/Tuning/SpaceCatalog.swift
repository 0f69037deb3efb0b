import CPUKernels
import CUDAKernels
import TuneCore

/// Which backend's schedule space a job uses, built for a real device of its class. The
/// coordinator samples from the same space the agent validates against, built from the
/// agent's probed profile (its caches, vector width, shared-memory and thread limits).
public enum SpaceCatalog {
    public static func space(for task: TaskSpec, profile: DeviceProfile, plan: MeasurePlan) -> (any ScheduleSpace)? {
        switch profile.deviceClass {
        case .cpu: return CPUKernels.space(for: task, device: profile, threads: plan.threads)
        case .cuda: return CUDAKernels.space(for: task, device: profile)
        }
    }
}
