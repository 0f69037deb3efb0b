import Testing
import TuneAgent

/// The CPUs an agent may use are the ones its process may run on, not the machine's.
@Suite struct UsableCPUs {
    @Test func kernelCPUListsParse() {
        #expect(CPUProbe.cpuList("0-3,8,10-11\n") == [0, 1, 2, 3, 8, 10, 11])
        #expect(CPUProbe.cpuList("5") == [5])
        #expect(CPUProbe.cpuList("3-1") == nil)
        #expect(CPUProbe.cpuList("a-b") == nil)
        #expect(CPUProbe.cpuList("") == nil)
    }

    @Test func aCgroupQuotaIsWholeCPUs() {
        #expect(CPUProbe.cgroupCPUQuota("max 100000\n") == nil)
        #expect(CPUProbe.cgroupCPUQuota("250000 100000\n") == 2)
        #expect(CPUProbe.cgroupCPUQuota("50000 100000") == 1, "half a CPU is still one thread")
        #expect(CPUProbe.cgroupCPUQuota(nil) == nil)
        #expect(CPUProbe.cgroupCPUQuota("garbage") == nil)
    }

    /// Eight logical CPUs on four cores (siblings 0/4, 1/5, ...): Slurm binds the agent to
    /// CPUs 2, 3, 6 and 7 (two cores), a container quota may cut it further.
    @Test func affinityAndQuotaCutThreadsAndCores() {
        let coreOf = Dictionary(uniqueKeysWithValues: (0..<8).map { ($0, "0:\($0 % 4)") })
        #expect(CPUProbe.usableCPUs(online: 8, coreOf: coreOf, allowed: nil, quota: nil) == (8, nil) as (Int, Int?))
        let bound = CPUProbe.usableCPUs(online: 8, coreOf: coreOf, allowed: [2, 3, 6, 7], quota: nil)
        #expect(bound.threads == 4 && bound.cores == 2)
        let capped = CPUProbe.usableCPUs(online: 8, coreOf: coreOf, allowed: [2, 3, 6, 7], quota: 1)
        #expect(capped.threads == 1 && capped.cores == 1)
        let quotaOnly = CPUProbe.usableCPUs(online: 8, coreOf: coreOf, allowed: nil, quota: 3)
        #expect(quotaOnly.threads == 3 && quotaOnly.cores == nil)
    }
}
