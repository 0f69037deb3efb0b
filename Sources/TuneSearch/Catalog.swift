import TuneCore

/// The strategy and scheduler a campaign's typed choice stands for.
public enum SearchCatalog {
    /// A job's search, rebuilt from its history on resume. The seed mixes the campaign's
    /// seed, the job and how much was generated, so a resumed job does not replay its draws.
    /// `related` are measured schedules of similar tasks and devices (transfer-tuning's
    /// sources); random search, the honest baseline, ignores them.
    public static func strategy(_ choice: SearchChoice, job: ActiveJob, history: [TuningRecord], related: [TransferSource] = []) -> any SearchStrategy {
        let seed = job.seed ^ (UInt64(bitPattern: job.jobID) &* 0x9e37_79b9_7f4a_7c15) ^ UInt64(job.generated.count)
        switch choice {
        case .random:
            var s = RandomSearch(seed: seed)
            for r in history { s.observe(r) }
            return s
        case .evolutionary:
            var s = EvolutionarySearch(seed: seed, sources: related)
            for r in history { s.observe(r) }
            return s
        }
    }

    public static func scheduler(_ choice: SchedulerChoice) -> any TaskScheduler {
        switch choice {
        case .roundRobin: return RoundRobinScheduler()
        case .flops: return FLOPsWeightedScheduler()
        case .gradient: return GradientScheduler()
        }
    }
}
