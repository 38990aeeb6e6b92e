// Concatenation on variables. Backward: each input receives its slice of the gradient.

import Tensor

extension Variable {
    /// Variables joined along `axis` (all other sizes equal). Backward: each input receives its
    /// slice of the gradient.
    public static func concatenate(_ variables: [Variable], axis: Int) -> Variable {
        precondition(!variables.isEmpty, "concatenate: no variables")
        let a = variables[0].value.normalizedAxis(axis)
        let sizes = variables.map { $0.shape[a] }
        return Variable(result: Tensor.concatenate(variables.map(\.value), axis: a), parents: variables) { g in
            var start = 0
            for (v, size) in zip(variables, sizes) {
                if v.requiresGrad { v.accumulateGradient(g.sliced(axis: a, start: start, end: start + size)) }
                start += size
            }
        }
    }
}
