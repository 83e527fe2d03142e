/// What went wrong loading a state dict: every missing key, unexpected key and shape mismatch,
/// reported together, by name (PyTorch's `load_state_dict` error, on one line).
public struct StateDictError: Error, CustomStringConvertible, Equatable {
    /// Keys the module has and the dict lacks.
    public var missingKeys: [String]
    /// Keys the dict has and the module lacks.
    public var unexpectedKeys: [String]
    /// `name: expected [..], got [..]` for each key whose shape differs.
    public var shapeMismatches: [String]
    /// `name: nan at flat index i` for each value that is NaN or infinite.
    public var nonFiniteValues: [String] = []

    /// Creates the error.
    public init(missingKeys: [String], unexpectedKeys: [String], shapeMismatches: [String], nonFiniteValues: [String] = []) {
        (self.missingKeys, self.unexpectedKeys, self.shapeMismatches) = (missingKeys, unexpectedKeys, shapeMismatches)
        self.nonFiniteValues = nonFiniteValues
    }

    /// One line listing all problems (control characters in key names escaped, long names shortened).
    public var description: String {
        var parts: [String] = []
        if !missingKeys.isEmpty { parts.append("missing keys: \(missingKeys.map { shown($0) }.joined(separator: ", "))") }
        if !unexpectedKeys.isEmpty { parts.append("unexpected keys: \(unexpectedKeys.map { shown($0) }.joined(separator: ", "))") }
        if !shapeMismatches.isEmpty { parts.append("shape mismatches: \(shapeMismatches.joined(separator: "; "))") }
        if !nonFiniteValues.isEmpty { parts.append("non-finite values: \(nonFiniteValues.joined(separator: "; "))") }
        return oneLine("state dict does not fit the model: " + parts.joined(separator: "; "))
    }
}

extension Module {
    /// Every parameter's values under its PyTorch `state_dict` name (`model.state_dict()`).
    public func stateDict() -> [String: TensorData] {
        Dictionary(uniqueKeysWithValues: namedParameters.map { ($0.name, TensorData(shape: $0.tensor.shape, scalars: $0.tensor.scalars)) })
    }

    /// Copies values from `dict` into the parameters of the same names (`model.load_state_dict`).
    ///
    /// - Parameter strict: when `true` (PyTorch's default), a missing or unexpected key is an error;
    ///   shape mismatches and NaN or infinite values (which PyTorch would load) are always errors.
    ///   Nothing is changed unless the whole dict fits.
    /// - Throws: ``StateDictError`` listing every problem at once.
    public func loadStateDict(_ dict: [String: TensorData], strict: Bool = true) throws {
        let params = namedParameters
        let names = Set(params.map(\.name))
        var error = StateDictError(missingKeys: [], unexpectedKeys: [], shapeMismatches: [])
        for (name, tensor) in params {
            guard let value = dict[name] else {
                error.missingKeys.append(name)
                continue
            }
            if value.shape != tensor.shape {
                error.shapeMismatches.append("\(shown(name)): expected \(tensor.shape), got \(value.shape)")
            } else if !allFinite(value.scalars), let bad = value.scalars.firstIndex(where: { !$0.isFinite }) {
                error.nonFiniteValues.append("\(shown(name)): \(value.scalars[bad]) at flat index \(bad)")
            }
        }
        error.unexpectedKeys = dict.keys.filter { !names.contains($0) }.sorted()
        if !error.shapeMismatches.isEmpty || !error.nonFiniteValues.isEmpty || (strict && !(error.missingKeys.isEmpty && error.unexpectedKeys.isEmpty)) {
            if !strict { error.missingKeys = []; error.unexpectedKeys = [] }
            throw error
        }
        for (name, tensor) in params {
            if let value = dict[name] { tensor.scalars = value.scalars }
        }
    }
}
