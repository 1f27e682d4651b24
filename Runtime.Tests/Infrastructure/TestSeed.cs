using System;
using System.Globalization;

namespace AttentionGen.Runtime.Tests.Infrastructure;

/// <summary>
/// Seeds for random tests: fixed by default so a failure reproduces, and changed for every test at once by setting
/// ATTENTIONGEN_TEST_SEED to explore further.
/// </summary>
public static class TestSeed
{
    public static int Base { get; } =
        int.TryParse(Environment.GetEnvironmentVariable("ATTENTIONGEN_TEST_SEED"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int seed) ? seed : 20261120;

    /// <summary>A seed for one test, stable across runs and processes (string.GetHashCode is not).</summary>
    public static int For(string name)
    {
        unchecked
        {
            int hash = Base;
            foreach (char c in name)
            {
                hash = (hash * 31) + c;
            }

            return hash & int.MaxValue;
        }
    }
}
