using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;
using Hvrt.Layout;

namespace Hvrt.Sync;

/// <summary>
/// A number per thread, never reused (unlike managed thread ids): 0 is no thread. Debug mode
/// only; nothing on a release path reads it.
/// </summary>
internal static class DebugThread
{
    private static long s_last;

    [ThreadStatic]
    private static ulong t_id;

    public static ulong Current
    {
        get
        {
            ulong id = t_id;
            if (id == 0)
            {
                t_id = id = (ulong)Interlocked.Increment(ref s_last);
            }
            return id;
        }
    }
}

/// <summary>
/// Debug-mode state of a reader, in the 64 bytes after its <see cref="ReaderRecord"/> (the
/// record itself keeps the layout hvrt_inline.h reads).
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 64)]
internal struct ReaderDebug
{
    /// <summary>The only thread that may use the reader (a vCPU's reader: the vCPU's thread), or 0: any, one at a time.</summary>
    public ulong Owner;

    /// <summary>The thread inside an hvrt_reader_* call with this reader, or 0.</summary>
    public ulong Busy;
}

/// <summary>
/// The debug-mode checks of hvrt_reader_* (hvrt.h, "Threading and lifetime rules"): a vCPU's
/// reader from another thread than the vCPU's gives -EPERM; a call while another thread is inside
/// a call with the same reader (two threads using it at once) gives -EBUSY, and the other call is
/// not disturbed. Only records with <see cref="ReaderRecord.DebugLiveMagic"/> come here.
/// </summary>
internal static unsafe class ReaderGuard
{
    /// <summary>Enter returns it when this thread is already inside a call with the reader (a signal handler): no Leave then.</summary>
    public const int Nested = 2;

    /// <summary>Enter returns it when the call must end with <see cref="Leave"/>.</summary>
    public const int Entered = 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ReaderDebug* Of(ReaderRecord* r) => (ReaderDebug*)(r + 1);

    /// <summary>
    /// For a record that is not live in release mode: -EBADF unless it is a debug-mode reader;
    /// then -EPERM (another thread's vCPU reader), -EBUSY (in use by another thread), or
    /// <see cref="Entered"/> / <see cref="Nested"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static int Enter(ReaderRecord* r)
    {
        if (r->Magic != ReaderRecord.DebugLiveMagic)
        {
            return -Errno.EBADF;
        }
        ReaderDebug* d = Of(r);
        ulong me = DebugThread.Current;
        ulong owner = Volatile.Read(ref d->Owner);
        if (owner != 0 && owner != me)
        {
            return -Errno.EPERM;
        }
        ulong busy = Interlocked.CompareExchange(ref d->Busy, me, 0UL);
        if (busy == me)
        {
            return Nested;
        }
        return busy == 0 ? Entered : -Errno.EBUSY;
    }

    /// <summary>Ends a call that <see cref="Enter"/> returned <see cref="Entered"/> for.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void Leave(ReaderRecord* r, int token)
    {
        if (token == Entered)
        {
            Volatile.Write(ref Of(r)->Busy, 0UL);
        }
    }

    /// <summary>Ties a debug-mode reader to one thread (a vCPU's). A release-mode record is left alone.</summary>
    public static void SetOwner(ReaderRecord* r, ulong thread)
    {
        if (r->Magic == ReaderRecord.DebugLiveMagic)
        {
            Of(r)->Owner = thread;
        }
    }
}
