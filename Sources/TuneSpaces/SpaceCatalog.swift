import CPUKernels
import CUDAKernels
import TuneCore

/// Which backend's schedule space a task has on a device: the one place a device class
/// maps to CPUKernels or CUDAKernels. The agent validates against it and the coordinator
/// samples from it, so both must ask here and never the kernel modules directly.
public enum SpaceCatalog {
    /// The space of `task` on `device` (its probed limits shape the space), or nil when
    /// the device's backend has no template for the task. `threads` is the plan's thread
    /// count; only CPU spaces depend on it.
    public static func space(for task: TaskSpec, device: DeviceProfile, threads: Int) -> (any ScheduleSpace)? {
        switch device.deviceClass {
        case .cpu: return CPUKernels.space(for: task, device: device, threads: threads)
        case .cuda: return CUDAKernels.space(for: task, device: device)
        }
    }

    /// The same, with the thread count taken from the plan a batch carries.
    public static func space(for task: TaskSpec, device: DeviceProfile, plan: MeasurePlan) -> (any ScheduleSpace)? {
        space(for: task, device: device, threads: plan.threads)
    }
}
