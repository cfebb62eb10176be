using System.Threading;

namespace Hvrt.Testing;

/// <summary>
/// Files a test declared to be guest_memfds (hvrt_test_stand_in_guest_memfd): the replay of a
/// kernel's recorded answers (native/tests/kvm_replay_test.c) runs where no KVM can make a real
/// one, so a memfd of the same size stands in for it, by (st_dev, st_ino). Empty in a process
/// that never calls the hook: then the one check is a volatile load of 0.
/// </summary>
internal static class StandInGuestMemfds
{
    private const int Capacity = 64;
    private static readonly Lock s_lock = new();
    private static readonly (ulong Dev, ulong Ino)[] s_files = new (ulong, ulong)[Capacity];
    private static int s_count;

    /// <summary>Adds a file; false when the table is full.</summary>
    public static bool Add(ulong dev, ulong ino)
    {
        lock (s_lock)
        {
            if (Contains(dev, ino))
            {
                return true;
            }
            if (s_count == Capacity)
            {
                return false;
            }
            s_files[s_count] = (dev, ino);
            Volatile.Write(ref s_count, s_count + 1);
            return true;
        }
    }

    /// <summary>Whether a test declared (dev, ino) a guest_memfd.</summary>
    public static bool Contains(ulong dev, ulong ino)
    {
        int n = Volatile.Read(ref s_count);
        for (int i = 0; i < n; i++)
        {
            if (s_files[i].Dev == dev && s_files[i].Ino == ino)
            {
                return true;
            }
        }
        return false;
    }
}
