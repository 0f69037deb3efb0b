/// When a device class asks for a new model. At most `every` new verified results apart, and
/// sooner while the class has few: after `first`, then each time its results have grown by
/// `growth` (a quarter) since. A job's first measurements are the ones that correct the
/// shipped model where it is wrong for this device (adaptation costs milliseconds), so waiting
/// for the 32nd or 256th result lets the search keep proposing what was already measured
/// slow; later, a few more results change a model little and retraining less often is enough.
public struct RetrainCadence: Sendable, Equatable {
    public var every: Int
    public var first: Int
    public var growth: Double
    /// Verified results of the class seen so far, and when the last request was made.
    public private(set) var seen = 0
    public private(set) var seenAtLast = 0
    public var sinceLast: Int { seen - seenAtLast }

    public init(every: Int, first: Int = 8, growth: Double = 0.25) {
        self.every = max(1, every); self.first = max(1, first); self.growth = growth
    }

    /// How many new results the next request waits for.
    public var gap: Int { min(every, max(first, Int(Double(seenAtLast) * growth))) }

    /// One more verified result; true: ask for a model now.
    public mutating func observe() -> Bool {
        seen += 1
        guard sinceLast >= gap else { return false }
        seenAtLast = seen
        return true
    }
}
