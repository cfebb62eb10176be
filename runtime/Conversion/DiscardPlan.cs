using System.Collections.Generic;
using Hvrt.Layout;
using Hvrt.Platform;

namespace Hvrt.Conversion;

/// <summary>
/// The discards one conversion needs, collected per slot piece and issued merged: one system
/// call per maximal contiguous run (host addresses for the shared side, byte offsets of one file
/// for the private side), so pieces of adjacent slots, or of two address spaces aliasing the same
/// memory, go out as one call and a hugepage-aligned piece is never split. Writer only (VM lock).
/// </summary>
internal sealed class DiscardPlan
{
    private readonly List<SharedPiece> _shared = new();
    private readonly List<PrivatePiece> _private = new();

    /// <summary>Discard system calls issued over the VM's life (tests count them).</summary>
    public ulong Calls { get; private set; }

    private readonly record struct SharedPiece(ulong Start, ulong End);

    private readonly record struct PrivatePiece(ulong Dev, ulong Ino, int Fd, ulong Start, ulong End);

    public void Clear()
    {
        _shared.Clear();
        _private.Clear();
    }

    /// <summary>Host bytes [hva, hva + len) of shared memory to drop.</summary>
    public void AddShared(ulong hva, ulong len) => _shared.Add(new SharedPiece(hva, hva + len));

    /// <summary>Bytes [offset, offset + len) of the private file (dev, ino), open as fd, to punch.</summary>
    public void AddPrivate(ulong dev, ulong ino, int fd, ulong offset, ulong len) => _private.Add(new PrivatePiece(dev, ino, fd, offset, offset + len));

    /// <summary>Punches every merged private run; stops at the first failure (-errno of fallocate).</summary>
    public int PunchPrivate()
    {
        _private.Sort(static (a, b) => a.Dev != b.Dev ? a.Dev.CompareTo(b.Dev) : a.Ino != b.Ino ? a.Ino.CompareTo(b.Ino) : a.Start.CompareTo(b.Start));
        for (int i = 0; i < _private.Count;)
        {
            PrivatePiece run = _private[i];
            ulong end = run.End;
            int j = i + 1;
            while (j < _private.Count && _private[j].Dev == run.Dev && _private[j].Ino == run.Ino && _private[j].Start <= end)
            {
                end = _private[j].End > end ? _private[j].End : end;
                j++;
            }
            if (!Libc.RefersTo(run.Fd, run.Dev, run.Ino))
            {
                return -Errno.EBADF; // hvrt's duplicate was closed (and perhaps reused) behind its back
            }
            Calls++;
            int r = Libc.PunchHole(run.Fd, run.Start, end - run.Start);
            if (r != 0)
            {
                return r;
            }
            i = j;
        }
        return 0;
    }

    /// <summary>
    /// Drops every merged shared run: MADV_REMOVE frees the pages of file and shmem mappings
    /// (MAP_SHARED memfd, shmem, hugetlbfs); the kernel refuses it with EINVAL for memory with no
    /// file behind it (anonymous MAP_PRIVATE) or locked memory, and there MADV_DONTNEED is what
    /// frees the pages. A merged run that spans both kinds gets EINVAL too, so such a run is
    /// retried piece by piece, each with the same fallback. Other errors (EACCES: a private or
    /// read-only file mapping; ENOMEM: an unmapped hole) are returned.
    /// </summary>
    public int DropShared()
    {
        _shared.Sort(static (a, b) => a.Start.CompareTo(b.Start));
        for (int i = 0; i < _shared.Count;)
        {
            ulong start = _shared[i].Start;
            ulong end = _shared[i].End;
            int j = i + 1;
            while (j < _shared.Count && _shared[j].Start <= end)
            {
                end = _shared[j].End > end ? _shared[j].End : end;
                j++;
            }
            int r = Remove(start, end);
            if (r == -Errno.EINVAL && j - i > 1)
            {
                r = 0;
                for (int k = i; k < j && r == 0; k++)
                {
                    r = Drop(_shared[k].Start, _shared[k].End);
                }
            }
            else if (r == -Errno.EINVAL)
            {
                r = DontNeed(start, end);
            }
            if (r != 0)
            {
                return r;
            }
            i = j;
        }
        return 0;
    }

    private int Drop(ulong start, ulong end)
    {
        int r = Remove(start, end);
        return r == -Errno.EINVAL ? DontNeed(start, end) : r;
    }

    private int Remove(ulong start, ulong end)
    {
        Calls++;
        return Libc.Madvise(start, end - start, Libc.MADV_REMOVE);
    }

    private int DontNeed(ulong start, ulong end)
    {
        Calls++;
        return Libc.Madvise(start, end - start, Libc.MADV_DONTNEED);
    }
}
