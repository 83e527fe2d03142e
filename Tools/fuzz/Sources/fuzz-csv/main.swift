// Fuzzes `CSVTable.parse` (the input as UTF-8, invalid sequences replaced as `String(decoding:)`
// does) and the column accessors on a table it accepts.
import Foundation
import FuzzSupport
import Recurrent

runFuzzer { bytes, count in
    let text = String(decoding: UnsafeBufferPointer(start: bytes, count: bytes == nil ? 0 : count), as: UTF8.self)
    let table: CSVTable
    do {
        table = try CSVTable.parse(text, file: "fuzz.csv")
    } catch {
        reject(error)
        return 0
    }
    check(table.rows.count == table.lineNumbers.count, "\(table.rows.count) rows but \(table.lineNumbers.count) line numbers")
    for row in table.rows { check(row.count == table.header.count, "a row of \(row.count) fields under \(table.header.count) columns") }
    let numeric = Set(table.numericColumnNames)
    for name in table.header {
        do {
            let column = try table.column(name)
            check(column.count == table.rows.count, "column '\(name)' has \(column.count) values for \(table.rows.count) rows")
        } catch {
            check(false, "column '\(name)' of the header is missing: \(error)")
        }
        do {
            let values = try table.numericColumn(name)
            check(values.count == table.rows.count, "numeric column '\(name)' has \(values.count) values")
        } catch {
            check(!numeric.contains(name), "numericColumnNames lists '\(name)' but numericColumn refuses it: \(error)")
        }
    }
    return 0
}
