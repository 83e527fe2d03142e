import Foundation

// Axis arithmetic for the plots: mapping data to pixels, "nice" tick values (1, 2 or 5 times a power
// of ten, as in Heckbert's "Nice numbers for graph labels", Graphics Gems, 1990) and compact labels.

/// A data interval mapped onto a pixel interval, linearly or on a base-10 logarithmic scale.
struct AxisScale {
    /// The ends of the interval shown, in data units (positive for a logarithmic scale).
    var lower: Double, upper: Double
    /// Whether the scale is logarithmic.
    var logarithmic = false
    /// The pixels of `lower` and `upper` (for a y axis: the bottom, then the top).
    var pixelLower: Double, pixelUpper: Double

    /// The pixel coordinate of `value`.
    func pixel(_ value: Double) -> Double {
        let (a, b, v) = logarithmic ? (log10(lower), log10(upper), log10(value)) : (lower, upper, value)
        return pixelLower + (v - a) / (b - a) * (pixelUpper - pixelLower)
    }
}

/// A labelled position on an axis.
struct Tick: Equatable {
    var value: Double
    var label: String
}

/// The smallest step of the form 1, 2 or 5 times a power of ten that is at least `raw` (> 0).
func niceStep(atLeast raw: Double) -> Double {
    let magnitude = pow(10, floor(log10(raw)))
    for m in [1.0, 2, 5] where m * magnitude >= raw * (1 - 1e-9) { return m * magnitude }
    return 10 * magnitude
}

/// The step of the form 1, 2 or 5 times a power of ten nearest to `raw` (> 0), on a logarithmic
/// scale (the cut-offs are the geometric means √2, √10, √50).
func niceStep(near raw: Double) -> Double {
    let magnitude = pow(10, floor(log10(raw)))
    let m = raw / magnitude
    return (m < 2.0.squareRoot() ? 1 : m < 10.0.squareRoot() ? 2 : m < 50.0.squareRoot() ? 5 : 10) * magnitude
}

/// The multiples of `step` in [`lower`, `upper`] as `(index, value)`, where value = index · step;
/// empty if there would be more than 10 000 (a caller's bug, not a drawable axis).
func multiples(of step: Double, in lower: Double, _ upper: Double) -> [(index: Int, value: Double)] {
    let (first, last) = (ceil(lower / step - 1e-9), floor(upper / step + 1e-9))
    guard first.isFinite, last.isFinite, last - first < 10_000, first <= last else { return [] }
    return (Int(first)...Int(last)).map { ($0, Double($0) * step) }
}

/// Ticks at the multiples of a 1-2-5 step (at least `minimumStep`) in [`lower`, `upper`]: at most
/// `count` of them, or with `nearest`, as close to `count` as a 1-2-5 step allows.
func linearTicks(_ lower: Double, _ upper: Double, count: Int, minimumStep: Double = 0, nearest: Bool = false) -> (ticks: [Tick], step: Double) {
    let raw = (upper - lower) / Double(max(count, 1))
    let step = max(nearest ? niceStep(near: raw) : niceStep(atLeast: raw), minimumStep)
    return (multiples(of: step, in: lower, upper).map { Tick(value: $0.value, label: tickLabel($0.value, step: step)) }, step)
}

/// Ticks for a logarithmic axis on [`lower`, `upper`] (both > 0): powers of ten when at least three
/// fit (every second or fifth one when more than `count` would), else 1, 2 and 5 times powers of
/// ten, else (a range narrower than a factor of about 2.5) linear 1-2-5 ticks.
func logarithmicTicks(_ lower: Double, _ upper: Double, count: Int) -> [Tick] {
    let (a, b) = (log10(lower), log10(upper))
    let (firstDecade, lastDecade) = (Int(ceil(a - 1e-9)), Int(floor(b + 1e-9)))
    let decades = lastDecade - firstDecade + 1
    if decades >= 3 {
        let every = [1, 2, 5, 10, 20, 50, 100].first { (decades + $0 - 1) / $0 <= max(count, 3) } ?? 100
        return (firstDecade...lastDecade).filter { $0 % every == 0 }.map {
            let value = pow(10, Double($0))
            return Tick(value: value, label: tickLabel(value, step: value))
        }
    }
    var ticks: [Tick] = []
    for decade in Int(floor(a))...Int(ceil(b)) {
        let unit = pow(10, Double(decade))
        for m in [1.0, 2, 5] where m * unit >= lower * (1 - 1e-9) && m * unit <= upper * (1 + 1e-9) {
            ticks.append(Tick(value: m * unit, label: tickLabel(m * unit, step: unit)))
        }
    }
    return ticks.count >= 3 ? ticks : linearTicks(lower, upper, count: count, nearest: true).ticks
}

/// A compact label for a tick `value` on an axis whose ticks are `step` apart (a 1-2-5 step): as many
/// decimals as the step needs and no more (`0.3`, not `0.30000000000000004`), and `1.5e6` or `2e-5`
/// style beyond the range 10⁻⁴ … 10⁶.
func tickLabel(_ value: Double, step: Double) -> String {
    guard abs(value) >= step / 2 else { return "0" }
    let stepExponent = Int(floor(log10(step) + 1e-9))
    let exponent = Int(floor(log10(abs(value)) + 1e-9))
    guard exponent >= 6 || exponent <= -5 else {
        return String(format: "%.\(max(0, -stepExponent))f", value)
    }
    var mantissa = String(format: "%.\(min(max(0, exponent - stepExponent), 15))f", value / pow(10, Double(exponent)))
    if mantissa.contains(".") {
        while mantissa.hasSuffix("0") { mantissa.removeLast() }
        if mantissa.hasSuffix(".") { mantissa.removeLast() }
    }
    return "\(mantissa)e\(exponent)"
}

/// The interval to show for data spanning [`lower`, `upper`] (finite, `lower <= upper`): widened by
/// `padding` (a fraction of the span) on each side, and around a single value by 10 % of it (or by 1
/// for zero), so that a constant series still gets an axis. With `logarithmic`, the same is done to
/// the logarithms (a single value gets ± 0.2 decades). With `stopAtZero`, padding does not take an
/// interval of non-negative (non-positive) data across zero.
func paddedInterval(_ lower: Double, _ upper: Double, padding: Double, logarithmic: Bool, stopAtZero: Bool = true) -> (Double, Double) {
    if logarithmic {
        let (a, b) = (log10(lower), log10(upper))
        let delta = b - a > 1e-9 ? padding * (b - a) : 0.2
        return (pow(10, a - delta), pow(10, b + delta))
    }
    let span = upper - lower
    if span <= 1e-9 * max(abs(lower), abs(upper)) {
        let delta = lower == 0 ? 1 : abs(lower) * 0.1
        return (lower - delta, upper + delta)
    }
    var (a, b) = (lower - padding * span, upper + padding * span)
    if stopAtZero && lower >= 0 && a < 0 { a = 0 }  // a loss never drops below zero; neither should its axis
    if stopAtZero && upper <= 0 && b > 0 { b = 0 }
    return (a, b)
}
