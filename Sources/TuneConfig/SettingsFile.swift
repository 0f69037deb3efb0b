import TOMLKit

/// One command-line setting a settings file may give: the names it answers to on the
/// command line and how it takes values.
public struct Setting: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// `--name` alone: `true` in the file gives it, `false` leaves it out.
        case flag
        /// `--name VALUE`, once.
        case option
        /// `--name VALUE`, as often as there are values (a TOML array).
        case repeating
    }
    /// The long name, without dashes: the key in the file.
    public var name: String
    /// Every spelling on the command line (`--name`, `-n`): a setting given there wins over the file.
    public var spellings: [String]
    public var kind: Kind

    public init(name: String, spellings: [String]? = nil, kind: Kind) {
        self.name = name
        self.spellings = spellings ?? ["--" + name]
        self.kind = kind
    }
}

/// Why a settings file cannot be used; each names the file and, where it can, the key.
public enum SettingsFileError: Error, Equatable, CustomStringConvertible {
    case syntax(file: String, line: Int, column: Int, reason: String)
    case unknownKey(file: String, key: String, suggestion: String?)
    case wrongType(file: String, key: String, expected: String, got: String)
    case notHere(file: String, key: String, reason: String)

    public var description: String {
        switch self {
        case let .syntax(file, line, column, reason):
            return "\(file):\(line):\(column): not valid TOML: \(reason)"
        case let .unknownKey(file, key, suggestion):
            return "\(file): unknown setting '\(key)'" + (suggestion.map { " (did you mean '\($0)'?)" } ?? "")
                + "; the keys are the long command-line flags without their dashes (see --help)"
        case let .wrongType(file, key, expected, got):
            return "\(file): setting '\(key)' must be \(expected), not \(got)"
        case let .notHere(file, key, reason):
            return "\(file): setting '\(key)' \(reason)"
        }
    }
}

/// A TOML settings file for a command: every key is one of the command's long flags without
/// its dashes (`batch-size = 8`, `insecure = true`, `allow = "/etc/tunefleet/allow.txt"`),
/// top-level, with the flag's own meaning and checks. Pure: text in, arguments out.
public enum SettingsFile {
    /// The command-line arguments the file stands for, in key order, one per value
    /// (`--name=value`, so a value that starts with a dash stays a value).
    public static func arguments(toml: String, file: String, settings: [Setting]) throws(SettingsFileError) -> [String] {
        let table: TOMLTable
        do { table = try TOMLTable(string: toml) } catch let e as TOMLParseError {
            throw .syntax(file: file, line: e.source.begin.line, column: e.source.begin.column, reason: e.description)
        } catch {
            throw .syntax(file: file, line: 0, column: 0, reason: "\(error)")
        }
        let byName = Dictionary(settings.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var out: [String] = []
        for key in table.keys.sorted() {
            guard let value = table[key] else { continue }
            guard let setting = byName[key] else {
                throw .unknownKey(file: file, key: key, suggestion: closest(to: key, among: settings.map(\.name)))
            }
            let flag = "--" + key
            switch setting.kind {
            case .flag:
                guard let on = value.bool else { throw .wrongType(file: file, key: key, expected: "true or false", got: describe(value)) }
                if on { out.append(flag) }
            case .option:
                out.append(flag + "=" + (try scalar(value, key: key, file: file)))
            case .repeating:
                if let array = value.array {
                    for element in array { out.append(flag + "=" + (try scalar(element, key: key, file: file))) }
                } else {
                    out.append(flag + "=" + (try scalar(value, key: key, file: file)))
                }
            }
        }
        return out
    }

    /// The file's arguments, then the command line's: a setting the command line gives
    /// replaces the file's (all of a repeating one's values), so the command line always wins.
    public static func merge(file: [String], commandLine: [String], settings: [Setting]) -> [String] {
        let given = Set(commandLine.compactMap { argument -> String? in
            guard argument.hasPrefix("-") else { return nil }
            let spelling = argument.split(separator: "=", maxSplits: 1).first.map(String.init) ?? argument
            return settings.first { $0.spellings.contains(spelling) }?.name
        })
        let kept = file.filter { argument in
            !given.contains(String(argument.dropFirst(2).split(separator: "=", maxSplits: 1).first ?? ""))
        }
        return kept + commandLine
    }

    static func scalar(_ value: TOMLValueConvertible, key: String, file: String) throws(SettingsFileError) -> String {
        if let s = value.string { return s }
        if let n = value.int { return String(n) }
        if let d = value.double, d.isFinite { return String(d) }
        throw .wrongType(file: file, key: key, expected: "a string or a number", got: describe(value))
    }

    static func describe(_ value: TOMLValueConvertible) -> String {
        switch value.type {
        case .table: return "a table (settings are top-level keys)"
        case .array: return "an array"
        case .double where !(value.double?.isFinite ?? true): return "\(value.double!)"
        case .int: return "an integer"
        case .double: return "a number"
        default: return "a \(value.type)"
        }
    }

    /// The known name a mistyped key most likely meant, if one is close.
    static func closest(to key: String, among names: [String]) -> String? {
        let scored = names.map { ($0, editDistance(key, $0)) }.min { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
        guard let (name, d) = scored, d <= max(2, key.count / 3) else { return nil }
        return name
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty else { return b.count }
        var row = Array(0...b.count)
        for i in 1...a.count {
            var previous = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let saved = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = saved
            }
        }
        return row[b.count]
    }
}
