// Signs with keys of the p11cluster token through Java's SunPKCS11 provider
// and verifies each signature with the certificate's public key in software.
//
//   java SignVerify.java CONFIG PIN_FILE OUT_DIR ALIAS...
//
// For each ALIAS (a key with its certificate, as `keytool -genkeypair` makes
// them): signs a 1 MiB message in 64 KiB updates (multi-part) and a short
// message in one update, with SHA256withRSA or SHA256withECDSA as the key
// asks, verifies both with the certificate's public key in software and
// with the token, and writes ALIAS.sig (the 1 MiB message's signature) and
// the message (message.bin) to OUT_DIR for other tools to check.
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.Provider;
import java.security.Security;
import java.security.Signature;
import java.security.cert.Certificate;
import java.util.Arrays;
import java.util.Random;

public class SignVerify {
    public static void main(String[] args) throws Exception {
        if (args.length < 4) {
            System.err.println("usage: SignVerify CONFIG PIN_FILE OUT_DIR ALIAS...");
            System.exit(2);
        }
        Provider p11 = Security.getProvider("SunPKCS11").configure(args[0]);
        Security.addProvider(p11);
        char[] pin = Files.readString(Path.of(args[1])).strip().toCharArray();
        KeyStore store = KeyStore.getInstance("PKCS11", p11);
        store.load(null, pin);
        Arrays.fill(pin, '\0');

        Path out = Path.of(args[2]);
        byte[] message = new byte[1 << 20];
        new Random(7).nextBytes(message);
        Files.write(out.resolve("message.bin"), message);
        byte[] shortMessage = "a short message".getBytes(StandardCharsets.UTF_8);

        for (int i = 3; i < args.length; i++) {
            String alias = args[i];
            PrivateKey key = (PrivateKey) store.getKey(alias, null);
            Certificate cert = store.getCertificate(alias);
            if (key == null || cert == null) throw new Exception(alias + ": no key with a certificate");
            String algorithm = key.getAlgorithm().equals("EC") ? "SHA256withECDSA" : "SHA256withRSA";

            Signature signer = Signature.getInstance(algorithm, p11);
            signer.initSign(key);
            for (int at = 0; at < message.length; at += 65536)
                signer.update(message, at, Math.min(65536, message.length - at));
            byte[] signature = signer.sign();
            signer.update(shortMessage);
            byte[] shortSignature = signer.sign();

            check(alias, algorithm, cert, message, signature, null);
            check(alias, algorithm, cert, shortMessage, shortSignature, null);
            check(alias, algorithm, cert, message, signature, p11);
            Files.write(out.resolve(alias + ".sig"), signature);
            System.out.println(alias + ": " + algorithm + " signatures verify");
        }
    }

    // Verifies with the certificate's public key, in software (provider null) or on the token.
    static void check(String alias, String algorithm, Certificate cert, byte[] message,
                      byte[] signature, Provider provider) throws Exception {
        Signature verifier = provider == null ? Signature.getInstance(algorithm)
                                              : Signature.getInstance(algorithm, provider);
        verifier.initVerify(cert.getPublicKey());
        verifier.update(message);
        if (!verifier.verify(signature)) throw new Exception(alias + ": signature does not verify");
        message[0] ^= 1;  // and a changed message must not verify
        verifier.update(message);
        boolean forged = verifier.verify(signature);
        message[0] ^= 1;
        if (forged) throw new Exception(alias + ": a changed message verifies");
    }
}
