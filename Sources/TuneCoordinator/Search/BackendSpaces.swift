import CPUKernels
import TuneCore

enum CPUKernelsSpace {
    static func space(_ task: TaskSpec, _ profile: DeviceProfile, _ plan: MeasurePlan) -> (any ScheduleSpace)? {
        CPUKernels.space(for: task, device: profile, threads: plan.threads)
    }
}
