using System;
using System.Collections.Generic;
using System.Linq;
using AttentionGen.CompilerServices;
using Xunit;

namespace AttentionGen.Runtime.Tests;

/// <summary>
/// The check that sends a row block's tile down the careful P·V path: whether any value row it is given holds an
/// infinity or a NaN, for every row length around the vector widths and every position of the value in a row.
/// </summary>
public sealed class MaskedValuesTests
{
    private const int Rows = 3;

    public static IEnumerable<object[]> NonFiniteValues() =>
        new[] { float.PositiveInfinity, float.NegativeInfinity, float.NaN, BitConverter.Int32BitsToSingle(-1) }
            .Select(value => new object[] { value });

    [Theory]
    [MemberData(nameof(NonFiniteValues))]
    public void A_non_finite_value_anywhere_in_the_rows_is_found(float nonFinite)
    {
        for (int dim = 1; dim <= 40; dim++)
        {
            int stride = dim + 3;
            for (int row = 0; row < Rows; row++)
            {
                for (int i = 0; i < dim; i++)
                {
                    float[] values = FiniteRows(dim, stride);
                    values[row * stride + i] = nonFinite;
                    Assert.True(MaskedValues.AnyNonFinite(ref values[0], Rows, dim, stride), $"dim {dim}, row {row}, element {i}");
                }
            }
        }
    }

    [Fact]
    public void Finite_rows_are_not_reported_whatever_lies_between_them()
    {
        // The floats between one row's end and the next row's start, and after the last row, are NaN and infinite: they
        // are not the rows' values, and reading them would report the rows wrongly.
        for (int dim = 1; dim <= 40; dim++)
        {
            int stride = dim + 3;
            float[] values = FiniteRows(dim, stride);
            Assert.False(MaskedValues.AnyNonFinite(ref values[0], Rows, dim, stride), $"dim {dim}");
            Assert.False(MaskedValues.AnyNonFinite(ref values[0], 0, dim, stride), $"dim {dim}, no rows");
        }
    }

    /// <summary>
    /// <see cref="Rows"/> rows of <paramref name="dim"/> finite floats <paramref name="stride"/> apart, the most extreme
    /// finite ones among them, with NaN and infinities in the gaps between rows and after the last.
    /// </summary>
    private static float[] FiniteRows(int dim, int stride)
    {
        float[] finite = { float.MaxValue, -float.MaxValue, float.Epsilon, -0f, 1.5f, -3e-39f, 65504f };
        float[] gaps = { float.NaN, float.PositiveInfinity, float.NegativeInfinity };
        var values = new float[Rows * stride];
        for (int j = 0; j < values.Length; j++)
        {
            values[j] = j % stride < dim ? finite[j % finite.Length] : gaps[j % gaps.Length];
        }

        return values;
    }
}
