/// `coordctl --control ENDPOINT campaign launch ...`: the connection options may come before
/// the subcommand, as operators write them; they are moved after it, where the subcommand's
/// parser takes them. Pure: arguments in, arguments out.
public enum CommandLineOrder {
    /// The options every control subcommand takes, each with one value.
    public static let leading: Set<String> = ["--control", "--request-timeout", "--key", "--server-key"]

    public static func movingLeadingOptions(_ args: [String]) -> [String] {
        var moved: [String] = []
        var i = 0
        while i < args.count {
            let a = args[i]
            if let eq = a.firstIndex(of: "="), leading.contains(String(a[..<eq])) {
                moved.append(a)
                i += 1
            } else if leading.contains(a), i + 1 < args.count {
                moved += [a, args[i + 1]]
                i += 2
            } else {
                break
            }
        }
        guard !moved.isEmpty, i < args.count else { return args }
        return Array(args[i...]) + moved
    }
}
