package org.lints;

/**
 * Computes a MAC, as in {@link IUses#give} and {@code values[3] < limit}.
 * Range is [0, 1]; see values[3] and a Map<String, int> where a < b > c.
 * <p>
 * A second paragraph with <b>bold</b>, <i>italic</i> and a list:
 * <ul>
 *   <li>one [in]</li>
 *   <li>two</li>
 * </ul>
 * <pre>
 *     HMAC(H, label || challenge[0] || <timestamp>)
 * </pre>
 * Markdown stays: [the site](https://example.com/a_b) and `x[0] <T>`.
 * Example:
 * ```
 * int x = foo<T>();
 * ```
 */
interface IDocs {
    /**
     * @param[in] property The key, with <T> generics and a | b.
     * @param[out] value The value.
     * @see https://example.com/x_y.
     * @return the value
     */
    int g(in int property);
}
