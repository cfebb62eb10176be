using System;
using System.Runtime.InteropServices;
using System.Threading;

namespace Hvrt.Memory;

/// <summary>
/// Debug mode (HVRT_DEBUG=1 in the environment, read once, here and nowhere else): misuse that
/// is undefined behaviour in release mode is detected and refused with a documented error
/// (hvrt.h, "Threading and lifetime rules"). Hot paths never read <see cref="Enabled"/>: debug
/// handles carry their own magic, so a release build pays only the magic check it already had.
/// </summary>
internal static class DebugMode
{
    public static readonly bool Enabled = Environment.GetEnvironmentVariable("HVRT_DEBUG") == "1";
}

/// <summary>
/// Where destroyed handles (hvrt_vm, hvrt_reader, hvrt_vcpu) go. In release mode straight back to
/// the allocator. In debug mode never: the block is poisoned (its magic included, so no live
/// magic is left) and kept mapped for the life of the process, so a stale pointer reads a block
/// every export refuses with -EBADF, and no later create can be handed the same address (which
/// would make the stale pointer a live handle of another object). The cost is the block's size
/// per destroyed handle (64-128 bytes), which is why it is a debug mode.
/// </summary>
internal static unsafe class Quarantine
{
    private static long s_blocks;

    /// <summary>Blocks kept since start (tests).</summary>
    public static long Blocks => Interlocked.Read(ref s_blocks);

    /// <summary>Frees a handle's block, or in debug mode poisons it and keeps it forever.</summary>
    public static void Retire(void* block, nuint bytes)
    {
        if (block == null)
        {
            return;
        }
        if (!DebugMode.Enabled)
        {
            NativeAlloc.Free(block, bytes);
            return;
        }
        NativeMemory.Fill(block, bytes, NativeAlloc.PoisonByte);
        Interlocked.Increment(ref s_blocks);
    }
}
