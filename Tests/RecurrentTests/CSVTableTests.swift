import Foundation
import Testing
@testable import Recurrent

@Suite struct CSVTableTests {
    /// The same table in the spellings RFC 4180 and real files allow.
    @Test(arguments: [
        "a,b\n1,x\n2,y\n",
        "a,b\r\n1,x\r\n2,y\r\n",
        "a,b\n1,x\n2,y",
        "\u{FEFF}a,b\n1,x\n2,y\n",
        "a,b\n1,x\n2,y\n\n\r\n\n",
        "\"a\",\"b\"\n\"1\",x\n2,\"y\"\n",
        "a,b\r1,x\r2,y\r",
    ])
    func parsesEquivalentSpellings(_ text: String) throws {
        let table = try CSVTable.parse(text, file: "t.csv")
        #expect(table.header == ["a", "b"])
        #expect(table.rows == [["1", "x"], ["2", "y"]])
        #expect(table.lineNumbers == [2, 3])
        #expect(table.file == "t.csv")
    }

    @Test func quotedFieldsHoldCommasQuotesAndLineBreaks() throws {
        let text = "name,note,value\n\"Smith, J.\",\"said \"\"hi\"\"\",1\n\"two\nlines\",\"crlf\r\ninside\",2\nplain,\"\",3\n,5'10\" tall,4\n"
        let table = try CSVTable.parse(text)
        #expect(table.rows == [["Smith, J.", "said \"hi\"", "1"], ["two\nlines", "crlf\r\ninside", "2"], ["plain", "", "3"], ["", "5'10\" tall", "4"]])
        #expect(table.lineNumbers == [2, 3, 6, 7], "a row's first line, after multi-line fields")
        #expect(try table.numericColumn("value") == [1, 2, 3, 4])
        #expect(try table.column("note")[3] == "5'10\" tall")
    }

    @Test func unicodeHeaderAndFields() throws {
        let table = try CSVTable.parse("温度,日期\n21.5,二〇二四\n-3,é\n")
        #expect(table.header == ["温度", "日期"])
        #expect(try table.numericColumn("温度") == [21.5, -3])
        #expect(try table.column("日期") == ["二〇二四", "é"])
    }

    @Test func numericColumnsAndNames() throws {
        let table = try CSVTable.parse("t,x,label,y,gap\n0, 1.5 ,a,1e-3,1\n1,-2,b,+4,\n2,3E2,c,.5,2\n")
        #expect(try table.numericColumn("x") == [1.5, -2, 300])
        #expect(try table.numericColumn("y") == [0.001, 4, 0.5])
        #expect(table.numericColumnNames == ["t", "x", "y"])
        let headerOnly = try CSVTable.parse("a,b\n")
        #expect(headerOnly.rows.isEmpty && headerOnly.numericColumnNames == ["a", "b"])
        #expect(try headerOnly.numericColumn("a").isEmpty)
    }

    /// Bad cells, each named by line and column.
    @Test(arguments: [
        ("x\n1\n\n2\n", "t.csv: line 3, column 'x': the field is empty"),
        ("x\n1\nabc\n", "t.csv: line 3, column 'x': 'abc' is not a number"),
        ("x\n1\nnan\n", "t.csv: line 3, column 'x': 'nan' is not a finite number"),
        ("x\n-inf\n", "t.csv: line 2, column 'x': '-inf' is not a finite number"),
        ("x\n1e999\n", "t.csv: line 2, column 'x': '1e999' is too large for a double"),
        ("x\n0x10\n", "t.csv: line 2, column 'x': '0x10' is not a number"),
        ("x,n\n1,\"two\nlines\"\nbad,3\n", "t.csv: line 4, column 'x': 'bad' is not a number"),
        ("x,n\n1,2\n\"3\n\",4\n", "t.csv: line 3, column 'x': '3\\u{A}' is not a number"),
    ])
    func badNumbersNameTheLineAndColumn(_ text: String, _ expected: String) throws {
        let table = try CSVTable.parse(text, file: "t.csv")
        #expect(throws: FileFormatError.self) {
            do {
                _ = try table.numericColumn("x")
            } catch let error as FileFormatError {
                #expect(error.description == expected)
                throw error
            }
        }
        #expect(!table.numericColumnNames.contains("x"))
    }

    enum Malformed: String, CaseIterable {
        case empty, onlyBlankLines, onlyBOM, emptyHeaderName, blankHeaderName, duplicateHeader, tooManyFields, tooFewFields
        case blankLineInside, unterminatedQuote, textAfterQuote, quoteInHeader, missingColumn, twoFieldsOneColumn

        var input: (text: String, column: String?, message: String) {
            switch self {
            case .empty: ("", nil, "t.csv: the file is empty: no header line")
            case .onlyBlankLines: ("\n\r\n\n", nil, "t.csv: the file is empty: no header line")
            case .onlyBOM: ("\u{FEFF}", nil, "t.csv: the file is empty: no header line")
            case .emptyHeaderName: ("a,,c\n1,2,3\n", nil, "t.csv: line 1: column 2 of the header has no name")
            case .blankHeaderName: ("a, \n1,2\n", nil, "t.csv: line 1: column 2 of the header has no name")
            case .duplicateHeader: ("a,b,a\n1,2,3\n", nil, "t.csv: line 1: the header names column 'a' twice (columns 1 and 3)")
            case .tooManyFields: ("a,b\n1,2\n3,4,5\n", nil, "t.csv: line 3 has 3 fields but the header has 2 columns")
            case .twoFieldsOneColumn: ("x\n\"a\nb\",\n", nil, "t.csv: line 2 has 2 fields but the header has 1 column")
            case .tooFewFields: ("a,b\n\"x\ny\",2\n3\n", nil, "t.csv: line 4 has 1 field but the header has 2 columns")
            case .blankLineInside: ("a,b\n1,2\n\n3,4\n", nil, "t.csv: line 3 is blank but the header has 2 columns")
            case .unterminatedQuote: ("a,b\n1,\"open\n2,3\n", nil, "t.csv: line 2, column 'b': the quoted field is not closed (a \" is missing)")
            case .textAfterQuote: ("a,b\n\"x\"y,2\n", nil, "t.csv: line 2, column 'a': text after the closing quote (write a \" inside a quoted field as \"\")")
            case .quoteInHeader: ("a,\"b\"c\n", nil, "t.csv: line 1, field 2: text after the closing quote (write a \" inside a quoted field as \"\")")
            case .missingColumn: ("a,b c,d\n1,2,3\n", "z", "t.csv: no column 'z'; the columns are 'a', 'b c', 'd'")
            }
        }
    }

    @Test(arguments: Malformed.allCases)
    func malformedTablesThrowOneLineErrors(_ c: Malformed) {
        let (text, column, message) = c.input
        #expect(throws: FileFormatError.self) {
            do {
                let table = try CSVTable.parse(text, file: "t.csv")
                _ = try table.column(column ?? table.header[0])
            } catch let error as FileFormatError {
                #expect(error.description == message)
                throw error
            }
        }
    }

    @Test func readsFilesAndNamesThemInErrors() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Data("\u{FEFF}day,sales\r\n1,10\r\n2,12.5\r\n".utf8).write(to: dir.file("sales.csv"))
        let table = try CSVTable.read(from: dir.file("sales.csv"))
        #expect(try table.numericColumn("sales") == [10, 12.5])
        #expect(throws: FileFormatError(file: dir.path("sales.csv"), "no column 'x'; the columns are 'day', 'sales'")) { _ = try table.column("x") }
        try Data([0x61, 0x0A, 0x31, 0xFF, 0x0A]).write(to: dir.file("latin1.csv"))
        #expect(throws: FileFormatError(file: dir.path("latin1.csv"), "not valid UTF-8: byte 3 (line 2) is 0xFF; save the file as UTF-8")) {
            _ = try CSVTable.read(from: dir.file("latin1.csv"))
        }
        try Data().write(to: dir.file("empty.csv"))
        #expect(throws: FileFormatError(file: dir.path("empty.csv"), "the file is empty: no header line")) {
            _ = try CSVTable.read(from: dir.file("empty.csv"))
        }
    }
}
