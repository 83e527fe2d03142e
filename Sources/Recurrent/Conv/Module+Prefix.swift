extension Module {
    /// Loads the entries of `dict` whose keys start with `prefix` (with it removed) into the
    /// parameters of the same names, skipping every other key: one part of a larger model's state
    /// dict, such as RAFT's `update_block.gru.` for a ``SepConvGRU``.
    ///
    /// ```swift
    /// try gru.loadStateDict(checkpoint.tensors, prefix: "update_block.gru.")
    /// ```
    ///
    /// - Parameter strict: as in ``loadStateDict(_:strict:)``: every parameter must be found, and
    ///   no key under `prefix` may be left over.
    /// - Throws: ``StateDictError`` naming keys in full (with `prefix`); nothing is changed unless
    ///   the whole part fits.
    public func loadStateDict(_ dict: [String: TensorData], prefix: String, strict: Bool = true) throws {
        let part = Dictionary(uniqueKeysWithValues: dict.compactMap { key, value in
            key.hasPrefix(prefix) ? (String(key.dropFirst(prefix.count)), value) : nil
        })
        do {
            try loadStateDict(part, strict: strict)
        } catch var error as StateDictError {
            error.missingKeys = error.missingKeys.map { prefix + $0 }
            error.unexpectedKeys = error.unexpectedKeys.map { prefix + $0 }
            error.shapeMismatches = error.shapeMismatches.map { prefix + $0 }
            error.nonFiniteValues = error.nonFiniteValues.map { prefix + $0 }
            throw error
        }
    }
}
