using System;
using System.Threading;

namespace AttentionGen;

/// <summary>Process-wide settings of the Attention.Gen runtime.</summary>
public static class AttentionRuntime
{
    private static int s_maxDegreeOfParallelism = Environment.ProcessorCount;

    /// <summary>
    /// The most threads one <c>Forward</c> call may use, the calling thread included. The default is
    /// <see cref="Environment.ProcessorCount"/>; 1 runs every call on the calling thread. Small problems use fewer
    /// threads than this on their own, since they cannot pay for the hand-off.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    public static int MaxDegreeOfParallelism
    {
        get => Volatile.Read(ref s_maxDegreeOfParallelism);
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            Volatile.Write(ref s_maxDegreeOfParallelism, value);
        }
    }
}
