import Foundation

/// A table read from a CSV file (RFC 4180): a header row of column names, then rows of fields.
///
/// Fields may be quoted with `"`: a quoted field may hold commas, line breaks and doubled quotes
/// (`""` for one `"`). Lines end in LF or CRLF; a UTF-8 byte order mark at the start, a missing
/// final line break and blank lines at the end are accepted. Every row must have as many fields as
/// the header. What pandas' `read_csv` reads from the same file, as strings (``column(_:)``) or
/// as numbers (``numericColumn(_:)``).
public struct CSVTable: Sendable, Equatable {
    /// The column names, from the first line.
    public let header: [String]
    /// The rows after the header, each with one field per column.
    public let rows: [[String]]
    /// The 1-based line of the source on which each row starts (a quoted line break makes a row
    /// span several lines), for messages.
    public let lineNumbers: [Int]
    /// The file the table was read from, or nil; messages name it.
    public let file: String?

    /// Reads and parses the UTF-8 CSV file at `url`.
    /// - Throws: ``FileFormatError`` naming the file (and the line and column where it applies).
    public static func read(from url: URL) throws -> CSVTable {
        try decodeFile(at: url) { try parse(decodeUTF8($0), file: url.path) }
    }

    /// Parses CSV text; `file` is named in messages and kept in ``file``.
    /// - Throws: ``FileFormatError``, one line naming the file, the line and the column: no header
    ///   (an empty text), an empty or repeated column name, a row with the wrong number of fields,
    ///   an unterminated quote or text after a closing quote.
    public static func parse(_ text: String, file: String? = nil) throws -> CSVTable {
        var records: [(fields: [String], line: Int, blank: Bool)] = []
        var utf8 = Array(text.utf8)
        if utf8.starts(with: [0xEF, 0xBB, 0xBF]) { utf8.removeFirst(3) }
        let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n")
        func fail(_ message: String) -> FileFormatError { FileFormatError(file: file, message) }
        /// Field `k` of the current row by its column's name once the header is known.
        func fieldName(_ k: Int) -> String {
            guard let header = records.first?.fields, k < header.count else { return "field \(k + 1)" }
            return "column '\(shown(header[k]))'"
        }
        var i = 0, line = 1
        while i < utf8.count {
            let recordLine = line
            var fields: [String] = [], quotedAny = false
            while true {
                if i < utf8.count && utf8[i] == quote {
                    quotedAny = true
                    let opened = line
                    var field: [UInt8] = []
                    i += 1
                    while true {
                        guard i < utf8.count else {
                            throw fail("line \(opened), \(fieldName(fields.count)): the quoted field is not closed (a \" is missing)")
                        }
                        if utf8[i] == quote {
                            if i + 1 < utf8.count && utf8[i + 1] == quote {
                                field.append(quote)
                                i += 2
                                continue
                            }
                            i += 1
                            break
                        }
                        if utf8[i] == lf || (utf8[i] == cr && (i + 1 == utf8.count || utf8[i + 1] != lf)) { line += 1 }
                        field.append(utf8[i])
                        i += 1
                    }
                    guard i == utf8.count || utf8[i] == comma || utf8[i] == cr || utf8[i] == lf else {
                        throw fail("line \(line), \(fieldName(fields.count)): text after the closing quote (write a \" inside a quoted field as \"\")")
                    }
                    fields.append(String(decoding: field, as: UTF8.self))
                } else {
                    let start = i
                    while i < utf8.count && utf8[i] != comma && utf8[i] != cr && utf8[i] != lf { i += 1 }
                    fields.append(String(decoding: utf8[start..<i], as: UTF8.self))
                }
                guard i < utf8.count && utf8[i] == comma else { break }
                i += 1
            }
            if i < utf8.count {  // the line break: CRLF, LF or a lone CR
                i += utf8[i] == cr && i + 1 < utf8.count && utf8[i + 1] == lf ? 2 : 1
                line += 1
            }
            records.append((fields, recordLine, !quotedAny && fields == [""]))
        }
        while records.last?.blank == true { records.removeLast() }
        guard let header = records.first?.fields else { throw fail("the file is empty: no header line") }
        var seen: [String: Int] = [:]
        for (k, name) in header.enumerated() {
            guard !name.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw fail("line \(records[0].line): column \(k + 1) of the header has no name")
            }
            if let j = seen[name] { throw fail("line \(records[0].line): the header names column '\(shown(name))' twice (columns \(j + 1) and \(k + 1))") }
            seen[name] = k
        }
        for r in records.dropFirst() where r.fields.count != header.count {
            let columns = "\(header.count) column\(header.count == 1 ? "" : "s")"
            throw fail(r.blank ? "line \(r.line) is blank but the header has \(columns)"
                : "line \(r.line) has \(r.fields.count) field\(r.fields.count == 1 ? "" : "s") but the header has \(columns)")
        }
        return CSVTable(header: header, rows: records.dropFirst().map(\.fields), lineNumbers: records.dropFirst().map(\.line), file: file)
    }

    private init(header: [String], rows: [[String]], lineNumbers: [Int], file: String?) {
        self.header = header
        self.rows = rows
        self.lineNumbers = lineNumbers
        self.file = file
    }

    /// The position of column `name` in ``header``.
    /// - Throws: ``FileFormatError`` listing the columns when there is none of that name.
    public func columnIndex(_ name: String) throws -> Int {
        guard let k = header.firstIndex(of: name) else {
            throw FileFormatError(file: file, "no column '\(shown(name))'; the columns are \(shown(header.map { "'\($0)'" }.joined(separator: ", ")))")
        }
        return k
    }

    /// The fields of column `name`, one per row, as written (quotes removed).
    /// - Throws: ``FileFormatError`` listing the columns when there is none of that name.
    public func column(_ name: String) throws -> [String] {
        let k = try columnIndex(name)
        return rows.map { $0[k] }
    }

    /// The fields of column `name` as numbers: decimal notation such as `3`, `-0.5` or `1e-3`,
    /// spaces around allowed.
    /// - Throws: ``FileFormatError`` naming the line and the column of the first empty,
    ///   non-numeric or non-finite (`nan`, `inf`, `1e999`) field, or listing the columns when
    ///   there is none of that name.
    public func numericColumn(_ name: String) throws -> [Double] {
        let k = try columnIndex(name)
        return try rows.indices.map { r in
            switch Self.number(rows[r][k]) {
            case .success(let v): return v
            case .failure(let problem):
                throw FileFormatError(file: file, "line \(lineNumbers[r]), column '\(shown(name))': \(problem.message)")
            }
        }
    }

    /// The columns whose every field is a finite number (every column when there are no rows),
    /// in header order: the candidates for a model's inputs and targets.
    public var numericColumnNames: [String] {
        header.indices.filter { k in rows.allSatisfy { (try? Self.number($0[k]).get()) != nil } }.map { header[$0] }
    }

    private struct NumberProblem: Error {
        var message: String
    }

    /// A field as a finite decimal number.
    private static func number(_ field: String) -> Result<Double, NumberProblem> {
        let text = field.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty else { return .failure(NumberProblem(message: "the field is empty")) }
        let decimal = text.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || "+-.eE".utf8.contains($0) }
        guard decimal, let v = Double(text) else {
            let nonFinite = Double(text).map { !$0.isFinite } ?? false
            return .failure(NumberProblem(message: "'\(shown(field))' is not a \(nonFinite ? "finite " : "")number"))
        }
        guard v.isFinite else { return .failure(NumberProblem(message: "'\(shown(field))' is too large for a double")) }
        return .success(v)
    }
}
