using System;
using System.Runtime.Intrinsics;
using Xunit;

namespace AttentionGen.Runtime.Tests;

/// <summary>
/// .ci/run repeats these tests with DOTNET_EnableAVX512=0, DOTNET_EnableAVX2=0 and DOTNET_EnableHWIntrinsic=0 so that
/// the Vector256, Vector128 and scalar paths each run on this machine. This checks that each switch really turns
/// the wider paths off, so the runs cannot silently test the same path again.
/// </summary>
public sealed class InstructionSetTests
{
    [Fact]
    public void The_instruction_set_switches_take_effect()
    {
        if (Environment.GetEnvironmentVariable("DOTNET_EnableAVX512") == "0")
        {
            Assert.False(Vector512.IsHardwareAccelerated);
        }

        if (Environment.GetEnvironmentVariable("DOTNET_EnableAVX2") == "0")
        {
            Assert.False(Vector512.IsHardwareAccelerated);
            Assert.False(Vector256.IsHardwareAccelerated);
        }

        if (Environment.GetEnvironmentVariable("DOTNET_EnableHWIntrinsic") == "0")
        {
            Assert.False(Vector128.IsHardwareAccelerated);
        }

        Console.WriteLine($"Vector512: {Vector512.IsHardwareAccelerated}, Vector256: {Vector256.IsHardwareAccelerated}, Vector128: {Vector128.IsHardwareAccelerated}");
    }
}
